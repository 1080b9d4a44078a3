using System.Text.Json.Serialization;

namespace FacialExpression;

/// <summary>The network family <see cref="ExpressionModel.Train(string, ExpressionTrainingOptions?, IProgress{TrainingProgress}?, CancellationToken)"/> builds.</summary>
public enum ExpressionArchitecture
{
    /// <summary>Three small conv stages (16-32-64 channels, about 70 k parameters): trains in seconds, for small or synthetic datasets.</summary>
    Compact,

    /// <summary>VGG-style net, four stages of 3×3 conv/batch-norm/ReLU (32-64-128-256 channels, about 1.2 M parameters) with global average pooling: the default, and the shipped FER2013 model's family.</summary>
    Standard,

    /// <summary>The <see cref="Standard"/> layout at twice the width (64-128-256-512, about 4.7 M parameters): 4× the multiply-adds and about 3× slower to train. On FER2013 it did not beat <see cref="Standard"/> for the same training time (see the model card).</summary>
    Large,
}

/// <summary>The optimiser used for training.</summary>
public enum ExpressionOptimizer
{
    /// <summary>Stochastic gradient descent with Nesterov momentum and L2 weight decay (added to the gradient, as in PyTorch's SGD).</summary>
    SgdNesterov,

    /// <summary>AdamW (Adam with decoupled weight decay).</summary>
    AdamW,
}

/// <summary>The learning-rate schedule applied per optimisation step.</summary>
public enum LearningRateSchedule
{
    /// <summary>Linear warm-up for <see cref="ExpressionTrainingOptions.WarmupEpochs"/>, then a single cosine decay to zero at the last epoch.</summary>
    WarmupCosine,

    /// <summary>One-cycle: rise to <see cref="ExpressionTrainingOptions.LearningRate"/> over the first 30 % of steps, then cosine-anneal to 1/1000 of it.</summary>
    OneCycle,
}

/// <summary>The arithmetic of the training passes.</summary>
public enum TrainingPrecision
{
    /// <summary>float32 throughout: the default.</summary>
    Float32,

    /// <summary>
    /// Forward and backward passes in bfloat16 on a working copy of the network; weights, gradients and optimiser
    /// state stay float32. Measured 1.6–2.2× the float32 training throughput, with the same accuracy, on a CPU with
    /// native bfloat16 (AVX-512 BF16); CPUs without it may gain nothing or lose (check with the benchmarks'
    /// <c>precision</c> command). The saved model is float32 either way. The shipped FER2013 networks were trained this way.
    /// </summary>
    BFloat16,
}

/// <summary>
/// Immutable settings for <see cref="ExpressionModel.Train(string, ExpressionTrainingOptions?, IProgress{TrainingProgress}?, CancellationToken)"/>.
/// Every property has a documented default; values are validated once when training starts.
/// </summary>
public sealed record ExpressionTrainingOptions
{
    /// <summary>Number of passes over the training data. Default 30; 1 to 10 000.</summary>
    public int Epochs { get; init; } = 30;

    /// <summary>Images per optimisation step. Default 64; 1 to 4096.</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>Peak learning rate. Default 0.05 (suits <see cref="ExpressionOptimizer.SgdNesterov"/>; use about 0.002 for AdamW); greater than 0 and at most 10.</summary>
    public double LearningRate { get; init; } = 0.05;

    /// <summary>Weight decay: an L2 penalty added to the gradient for <see cref="ExpressionOptimizer.SgdNesterov"/>, decoupled from it for <see cref="ExpressionOptimizer.AdamW"/>. Default 5e-4; 0 to 1.</summary>
    public double WeightDecay { get; init; } = 5e-4;

    /// <summary>Momentum for SGD (beta1 for AdamW). Default 0.9; 0 to 0.999999.</summary>
    public double Momentum { get; init; } = 0.9;

    /// <summary>The optimiser. Default <see cref="ExpressionOptimizer.SgdNesterov"/>.</summary>
    public ExpressionOptimizer Optimizer { get; init; } = ExpressionOptimizer.SgdNesterov;

    /// <summary>The learning-rate schedule. Default <see cref="LearningRateSchedule.WarmupCosine"/>.</summary>
    public LearningRateSchedule Schedule { get; init; } = LearningRateSchedule.WarmupCosine;

    /// <summary>Warm-up length in epochs for <see cref="LearningRateSchedule.WarmupCosine"/>. Default 1; 0 to <see cref="Epochs"/>.</summary>
    public double WarmupEpochs { get; init; } = 1;

    /// <summary>
    /// Side of the square grayscale image every input is resized to. Default 48 (FER2013's size); 16 to 256, and with
    /// <see cref="CropSize"/> unset at least 19 for the <see cref="ExpressionArchitecture.Standard"/> and
    /// <see cref="ExpressionArchitecture.Large"/> networks (their default crop, 5/6 of it, must be at least 16).
    /// </summary>
    public int ImageSize { get; init; } = 48;

    /// <summary>
    /// Side of the random crop the network trains on (prediction uses the centre crop, or ten crops with
    /// <see cref="TestTimeAugmentation.TenCrop"/>). Default <c>null</c>: 5/6 of <see cref="ImageSize"/>, 40 for 48.
    /// Between the architecture's minimum (8 for <see cref="ExpressionArchitecture.Compact"/>, 16 for the others, whose
    /// four stages each halve the image) and <see cref="ImageSize"/>.
    /// </summary>
    public int? CropSize { get; init; }

    /// <summary>The network family. Default <see cref="ExpressionArchitecture.Standard"/>.</summary>
    public ExpressionArchitecture Architecture { get; init; } = ExpressionArchitecture.Standard;

    /// <summary>
    /// A folder-per-label folder (or a <c>fer2013.csv</c> file, whose <c>PublicTest</c> rows are used) to validate on
    /// after every epoch. Default <c>null</c>: hold out <see cref="ValidationFraction"/> of the training data instead
    /// (for a CSV training source, its <c>PublicTest</c> rows).
    /// </summary>
    public string? ValidationFolder { get; init; }

    /// <summary>
    /// Fraction of the training images held out (stratified by label, seeded by <see cref="Seed"/>) for validation
    /// when <see cref="ValidationFolder"/> is not set. Default 0.1; 0 (no validation, no early stopping) to 0.5.
    /// For a FER2013 CSV training source only whether it is 0 matters: above 0, validation uses all the file's
    /// <c>PublicTest</c> rows, which must exist (set 0 to train on a CSV without them).
    /// </summary>
    public double ValidationFraction { get; init; } = 0.1;

    /// <summary>
    /// Stop when validation accuracy has not improved for this many epochs; the best epoch's weights are restored
    /// either way. Default 10; 0 to 10 000; 0 disables early stopping (the best epoch is still restored).
    /// </summary>
    public int EarlyStoppingPatience { get; init; } = 10;

    /// <summary>Label-smoothing factor of the cross-entropy loss. Default 0.1; 0 to 0.999.</summary>
    public double LabelSmoothing { get; init; } = 0.1;

    /// <summary>Dropout probability before the classifier. Default 0.3; 0 to 0.999.</summary>
    public double Dropout { get; init; } = 0.3;

    /// <summary>Randomly mirror training images left-right. Default <c>true</c>.</summary>
    public bool HorizontalFlip { get; init; } = true;

    /// <summary>Maximum random rotation of training images, in degrees. Default 10; 0 (off) to 45.</summary>
    public double MaxRotationDegrees { get; init; } = 10;

    /// <summary>Maximum random relative scale change of training images (0.1 = ±10 %). Default 0.1; 0 (off) to 0.5.</summary>
    public double MaxScaleChange { get; init; } = 0.1;

    /// <summary>Probability of erasing a random rectangle of each training image. Default 0.25; 0 (off) to 1.</summary>
    public double RandomErasingProbability { get; init; } = 0.25;

    /// <summary>
    /// Mixup: each training batch is blended with a shuffled copy of itself, <c>λ·x + (1−λ)·x'</c>, and the loss is
    /// the same blend of the two labels' cross-entropies, with λ drawn per batch from Beta(α, α). This is α.
    /// Default 0 (off); 0 to 10. Typical values are 0.1–0.4. Training accuracy is then counted against the
    /// dominant image's label.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] // keeps checkpoints written before this option resumable
    public double MixupAlpha { get; init; }

    /// <summary>
    /// Weight averaging: an exponential moving average of the weights (and batch-norm statistics) is updated after
    /// every optimisation step with this decay, and validation, early stopping, checkpoints' best weights and the
    /// returned model all use the averaged weights; <see cref="TrainingProgress.RawValidationAccuracy"/> reports the
    /// raw weights' accuracy alongside after the first epoch, every fifth and the last. Default 0 (off); 0 to
    /// 0.99999. The average spans about 1 / (1 − decay) steps: 0.999 is about 1,000 steps, two epochs of FER2013's
    /// training set at batch size 64. The decay is warmed up as min(decay, (1 + t) / (10 + t)) at step t, so 0.999
    /// takes full effect after about 9,000 steps.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] // keeps checkpoints written before this option resumable
    public double WeightAveragingDecay { get; init; }

    /// <summary>Seed for every random number generator used in training (weights, shuffling, split, augmentation). Default 1.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>
    /// When <c>true</c>, an unreadable or non-image file in a dataset throws a <see cref="DatasetException"/>;
    /// when <c>false</c> (default) it is skipped, counted and the first few paths are named in a progress warning.
    /// </summary>
    public bool ThrowOnUnreadableImages { get; init; }

    /// <summary>
    /// Folder that receives a checkpoint after every epoch and from which an interrupted run resumes when it is
    /// started again with the same options: the same model as an uninterrupted run. A run that had finished, or that
    /// early stopping had ended, returns its model without training further. <see cref="Epochs"/>,
    /// <see cref="EarlyStoppingPatience"/>, <see cref="Threads"/> and <see cref="Precision"/> may change on resume;
    /// a changed <see cref="Epochs"/> continues on the new length's learning-rate schedule from the step reached (the
    /// rate jumps to where the new schedule is), so the result matches neither length run straight through.
    /// Default <c>null</c>: no checkpoints.
    /// </summary>
    public string? CheckpointFolder { get; init; }

    /// <summary>
    /// CPU threads libtorch may use while training, for each network when <see cref="Networks"/> is more than one.
    /// Default <c>null</c>: all logical cores (divided among the networks). 1 to 1024. libtorch's thread count is
    /// process-wide; training sets it and restores the previous count when it ends.
    /// </summary>
    public int? Threads { get; init; }

    /// <summary>
    /// Arithmetic of the training passes. Default <see cref="TrainingPrecision.Float32"/>. A run checkpointed in one
    /// precision may be resumed in the other.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] // keeps checkpoints written before this option resumable
    public TrainingPrecision Precision { get; init; } = TrainingPrecision.Float32;

    /// <summary>
    /// How many networks to train at once, each on its own thread (with <see cref="Threads"/> = 1, one core each), over
    /// the same shuffled batches in the same order, each with its own initial weights, augmentation and dropout. The
    /// returned model is their ensemble
    /// (see <see cref="ExpressionModel.Ensemble"/>); validation, early stopping and the kept epoch use the ensemble's
    /// accuracy. Default 1; 1 to 16. With more than one, <see cref="Threads"/> counts per network and defaults to the
    /// logical cores divided among the networks.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] // checkpoints fingerprint 1 as 0, so folders written before this option resume
    public int Networks { get; init; } = 1;

    /// <summary>
    /// Mutual learning (Zhang et al., 2018): each network's loss adds this weight times the Kullback-Leibler
    /// divergence from the other networks' mean predicted probabilities (on their own augmentation of the same images,
    /// not back-propagated into them) to its own, so the networks teach each other the similarities between
    /// expressions that one-hot labels do not carry. Default 0 (off); 0 to 10; needs <see cref="Networks"/> of 2 or
    /// more and no <see cref="MixupAlpha"/>.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] // keeps checkpoints written before this option resumable
    public double MutualLearning { get; init; }

    /// <summary>libtorch threads for each network: <see cref="Threads"/>, or the logical cores divided among the networks.</summary>
    internal int ThreadsPerNetwork => Threads ?? Math.Max(1, Environment.ProcessorCount / Networks);

    internal int EffectiveCropSize => CropSize ?? (int)Math.Round(ImageSize * 5.0 / 6.0);

    internal void Validate()
    {
        if (ValidationFolder is { Length: 0 })
            throw new ArgumentException("ValidationFolder must not be empty: give a folder (or FER2013 CSV) of validation images, or leave it null to hold out ValidationFraction of the training data.", nameof(ValidationFolder));
        Guard.InRange(Epochs, 1, 10_000, nameof(Epochs));
        Guard.InRange(BatchSize, 1, 4096, nameof(BatchSize));
        Guard.InRange(LearningRate, double.Epsilon, 10, nameof(LearningRate));
        Guard.InRange(WeightDecay, 0, 1, nameof(WeightDecay));
        Guard.InRange(Momentum, 0, 0.999999, nameof(Momentum));
        Guard.InRange(WarmupEpochs, 0, Epochs, nameof(WarmupEpochs));
        Guard.Defined(Architecture, nameof(Architecture));
        Guard.InRange(ImageSize, 16, 256, nameof(ImageSize));
        // Every stage of the network halves the feature map, so the crop must survive that many halvings.
        int stages = Modeling.ExpressionNet.Widths(Architecture).Length, minCrop = 1 << stages;
        if (EffectiveCropSize < minCrop || EffectiveCropSize > ImageSize)
            throw new ArgumentOutOfRangeException(nameof(CropSize), EffectiveCropSize,
                $"CropSize must be between {minCrop} (the {Architecture} network halves the image {stages} times) and ImageSize ({ImageSize}); it was {EffectiveCropSize}"
                + (CropSize is null ? $", 5/6 of ImageSize. Raise ImageSize or set CropSize." : "."));
        Guard.InRange(ValidationFraction, 0, 0.5, nameof(ValidationFraction));
        Guard.InRange(EarlyStoppingPatience, 0, 10_000, nameof(EarlyStoppingPatience));
        Guard.InRange(LabelSmoothing, 0, 0.999, nameof(LabelSmoothing));
        Guard.InRange(Dropout, 0, 0.999, nameof(Dropout));
        Guard.InRange(MaxRotationDegrees, 0, 45, nameof(MaxRotationDegrees));
        Guard.InRange(MaxScaleChange, 0, 0.5, nameof(MaxScaleChange));
        Guard.InRange(RandomErasingProbability, 0, 1, nameof(RandomErasingProbability));
        Guard.InRange(MixupAlpha, 0, 10, nameof(MixupAlpha));
        Guard.InRange(WeightAveragingDecay, 0, 0.99999, nameof(WeightAveragingDecay));
        if (Threads is int t) Guard.InRange(t, 1, 1024, nameof(Threads));
        Guard.InRange(Networks, 1, 16, nameof(Networks));
        Guard.InRange(MutualLearning, 0, 10, nameof(MutualLearning));
        if (MutualLearning > 0 && Networks < 2)
            throw new ArgumentOutOfRangeException(nameof(MutualLearning), MutualLearning, $"MutualLearning ({MutualLearning}) needs two or more networks to learn from each other; set Networks to 2 or more, or MutualLearning to 0.");
        if (MutualLearning > 0 && MixupAlpha > 0)
            throw new ArgumentOutOfRangeException(nameof(MutualLearning), MutualLearning, $"MutualLearning ({MutualLearning}) cannot be combined with MixupAlpha ({MixupAlpha}): the networks' predictions on blended images are no target for each other. Set one of them to 0.");
        Guard.Defined(Optimizer, nameof(Optimizer));
        Guard.Defined(Schedule, nameof(Schedule));
        Guard.Defined(Precision, nameof(Precision));
    }
}

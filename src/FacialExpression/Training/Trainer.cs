using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using FacialExpression.Data;
using FacialExpression.Modeling;
using TorchSharp;
using static TorchSharp.torch;
using OptimizerHelper = TorchSharp.Modules.OptimizerHelper;

namespace FacialExpression.Training;

/// <summary>Result of a training run: the trained networks (one, or an ensemble's; best epoch restored) and a summary.</summary>
internal sealed record TrainingOutcome(IReadOnlyList<ExpressionNet> Nets, int EpochsRun, int BestEpoch, double? BestValidationAccuracy, double SecondsPerEpoch, double ImagesPerSecond, IReadOnlyList<TrainingProgress> History);

/// <summary>
/// The training loop: seeded shuffling, batched augmentation and optional mixup, SGD/AdamW with a per-step schedule, validation every
/// epoch, optional weight averaging, early stopping that restores the best weights, and optional per-epoch checkpoints for resuming.
/// Several networks (<see cref="ExpressionTrainingOptions.Networks"/>) train in lockstep, one thread each, optionally teaching
/// each other (<see cref="ExpressionTrainingOptions.MutualLearning"/>); they are validated and selected as an ensemble.
/// </summary>
internal static class Trainer
{
    /// <summary>With weight averaging, the raw network is validated after the first epoch, every this many epochs and the last (epoch <c>Epochs</c>, or the one early stopping ends the run after).</summary>
    internal const int RawValidationInterval = 5;

    public static TrainingOutcome Run(LabeledImages train, LabeledImages? validation, ExpressionTrainingOptions o,
        IProgress<TrainingProgress>? progress, CancellationToken ct)
    {
        TorchRuntime.EnsureLoaded();
        // libtorch's thread count is process-wide: set for this run, restored in the finally block below.
        int callersThreads = torch.get_num_threads();
        torch.set_num_threads(o.ThreadsPerNetwork);
        var clock = Stopwatch.StartNew();
        int size = train.ImageSize, crop = o.EffectiveCropSize, classes = train.Labels.Count;
        var (mean, std) = MeanStd(train.Pixels);

        var learners = new List<Learner>();
        Tensor? xTrain = null, yTrain = null, xVal = null, yVal = null;
        Checkpoint? checkpoint = null;
        try
        {
            for (int k = 0; k < o.Networks; k++) learners.Add(new Learner(k, o, classes, mean, std));
            xTrain = tensor(train.Pixels, [train.Count, 1, size, size]);
            yTrain = tensor(train.Targets.Select(t => (long)t).ToArray());
            if (validation is { Count: > 0 })
            {
                xVal = tensor(validation.Pixels, [validation.Count, 1, size, size]);
                yVal = tensor(validation.Targets.Select(t => (long)t).ToArray());
            }

            var augmenter = new BatchAugmenter(o);
            int stepsPerEpoch = (train.Count + o.BatchSize - 1) / o.BatchSize;
            long totalSteps = (long)stepsPerEpoch * o.Epochs;
            var history = new List<TrainingProgress>();
            checkpoint = o.CheckpointFolder is null ? null : new Checkpoint(o.CheckpointFolder, o, Checkpoint.DataFingerprint(train, validation, mean, std));
            int startEpoch = 1, bestEpoch = 0, sinceBest = 0;
            double bestAcc = double.NegativeInfinity;
            var earlierSegments = TimeSpan.Zero;
            if (checkpoint?.TryResume(learners, out var state) == true)
            {
                startEpoch = state!.Epoch + 1; bestEpoch = state.BestEpoch; bestAcc = state.BestAccuracy; sinceBest = state.SinceBest;
                history.AddRange(state.History);
                // Elapsed counts the training time of every segment, so a resumed run continues the count.
                earlierSegments = state.History.Count > 0 ? state.History[^1].Elapsed : TimeSpan.Zero;
                foreach (var l in learners) l.BestWeights = checkpoint.LoadBest(l, state);
                progress?.Report(new TrainingProgress { TotalEpochs = o.Epochs, Elapsed = earlierSegments + clock.Elapsed, Message = $"Resumed from checkpoint after epoch {state.Epoch} in '{o.CheckpointFolder}'." });
            }
            bool PatienceSpent() => xVal is not null && o.EarlyStoppingPatience > 0 && sinceBest >= o.EarlyStoppingPatience;
            // A run that early stopping had already ended stays ended: rerunning its command returns the same model.
            bool stopping = PatienceSpent() && startEpoch <= o.Epochs;
            if (stopping)
                progress?.Report(new TrainingProgress { TotalEpochs = o.Epochs, Elapsed = earlierSegments + clock.Elapsed, Message = $"The checkpointed run had stopped early after epoch {startEpoch - 1} (no validation improvement for {sinceBest} epochs); restoring epoch {bestEpoch}." });

            double lastLr = o.LearningRate;
            double trainSeconds = 0; long trainImages = 0;
            int epoch = startEpoch;
            for (; epoch <= o.Epochs && !stopping; epoch++)
            {
                ct.ThrowIfCancellationRequested();
                var epochClock = Stopwatch.StartNew();
                // Per-epoch seeds make a resumed run identical to an uninterrupted one.
                torch.manual_seed(o.Seed * 100_003L + epoch);
                using var gen = new Generator((ulong)(o.Seed * 1_000_003L + epoch));
                using var perm = randperm(train.Count, generator: gen);
                using var exchange = o.MutualLearning > 0 ? new PeerExchange(learners.Count) : null;
                var plan = new EpochPlan(epoch, stepsPerEpoch, totalSteps, xTrain, yTrain, perm, gen, augmenter, exchange, learners.Count > 1);
                RunOnEach(learners, o, ct, (l, token) =>
                {
                    double lr = TrainEpoch(l, plan, o, token);
                    if (l.Index == 0) lastLr = lr;
                });
                double seconds = epochClock.Elapsed.TotalSeconds;
                long seen = learners[0].Seen;
                trainSeconds += seconds; trainImages += seen;
                // With weight averaging, the averaged networks are the ones validated, selected and returned; the raw
                // networks' loss and accuracy are reported alongside, on the epochs RawValidationInterval describes.
                double? vLoss = null, vAcc = null, rawLoss = null, rawAcc = null;
                if (xVal is not null) (vLoss, vAcc) = Validate(learners, l => l.Kept, xVal, yVal!, crop, o, ct);
                bool best = vAcc is double a ? a > bestAcc : true;
                if (best)
                {
                    bestAcc = vAcc ?? double.NegativeInfinity; bestEpoch = epoch; sinceBest = 0;
                    foreach (var l in learners)
                    {
                        DisposeAll(l.BestWeights);
                        l.BestWeights = CloneWeights(l.Kept);
                    }
                }
                else sinceBest++;
                stopping = PatienceSpent();
                if (xVal is not null && learners[0].Average is not null && (epoch == 1 || epoch % RawValidationInterval == 0 || epoch == o.Epochs || stopping))
                    (rawLoss, rawAcc) = Validate(learners, l => l.Net, xVal, yVal!, crop, o, ct);
                var report = new TrainingProgress
                {
                    Epoch = epoch, TotalEpochs = o.Epochs,
                    TrainLoss = learners.Sum(l => l.LossSum) / learners.Sum(l => l.Seen),
                    TrainAccuracy = (double)learners.Sum(l => l.Correct) / learners.Sum(l => l.Seen),
                    ValidationLoss = vLoss, ValidationAccuracy = vAcc, RawValidationLoss = rawLoss, RawValidationAccuracy = rawAcc, LearningRate = lastLr, Elapsed = earlierSegments + clock.Elapsed,
                    ImagesPerSecond = seen / seconds, IsBestEpoch = best,
                };
                history.Add(report);
                checkpoint?.Save(learners, new CheckpointState(epoch, bestEpoch, bestAcc, sinceBest, history), best);
                progress?.Report(report);
                if (stopping)
                {
                    progress?.Report(new TrainingProgress { Epoch = 0, TotalEpochs = o.Epochs, Elapsed = earlierSegments + clock.Elapsed, Message = $"Early stopping after epoch {epoch}: no validation improvement for {sinceBest} epochs; restoring epoch {bestEpoch}." });
                    epoch++;
                    break;
                }
            }
            foreach (var l in learners)
            {
                if (l.BestWeights is not null) RestoreWeights(l.Net, l.BestWeights);
                l.Net.eval();
            }
            int epochsRun = Math.Min(epoch - 1, o.Epochs) - startEpoch + 1;
            return new TrainingOutcome(learners.Select(l => l.ReleaseNet()).ToArray(), Math.Min(epoch - 1, o.Epochs), bestEpoch, double.IsNegativeInfinity(bestAcc) ? null : bestAcc,
                epochsRun > 0 ? trainSeconds / epochsRun : 0, trainSeconds > 0 ? trainImages / trainSeconds : 0, history);
        }
        finally
        {
            torch.set_num_threads(callersThreads);
            checkpoint?.Dispose();
            foreach (var l in learners) l.Dispose();
            xTrain?.Dispose(); yTrain?.Dispose(); xVal?.Dispose(); yVal?.Dispose();
        }
    }

    /// <summary>What the networks of a run share in one epoch: its number, the schedule's length, the training data, this
    /// epoch's shuffled order and generator, the augmenter and, with mutual learning, the exchange of predictions.</summary>
    private sealed record EpochPlan(int Epoch, int StepsPerEpoch, long TotalSteps, Tensor X, Tensor Y, Tensor Order, Generator Shuffle,
        BatchAugmenter Augmenter, PeerExchange? Exchange, bool Several);

    /// <summary>
    /// One network's pass over an epoch: per step, the scheduled learning rate, an augmented (optionally mixed) batch, the
    /// loss (plus the mutual-learning term), the optimiser step, and the running loss and accuracy in the learner.
    /// Returns the learning rate of the last step.
    /// </summary>
    private static double TrainEpoch(Learner l, EpochPlan plan, ExpressionTrainingOptions o, CancellationToken token)
    {
        double lastLr = o.LearningRate;
        // A single network draws its augmentation from the shuffling generator and its dropout from libtorch's
        // global one, as it always has; networks on several threads each get a generator of their own.
        using var own = !plan.Several ? null : new Generator(unchecked((ulong)(o.Seed * 1_000_003L + plan.Epoch) + 0x9E3779B97F4A7C15UL * (ulong)(l.Index + 1)));
        l.UseDropoutGenerator(own);
        try
        {
            var mixup = o.MixupAlpha > 0 ? new Mixup(o.MixupAlpha, unchecked(o.Seed * 7_919 + plan.Epoch + 104_729 * l.Index)) : null;
            l.Net.train();
            l.LossSum = 0; l.Correct = 0; l.Seen = 0;
            long images = plan.X.shape[0];
            for (int step = 0; step < plan.StepsPerEpoch; step++)
            {
                token.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                long globalStep = (long)(plan.Epoch - 1) * plan.StepsPerEpoch + step;
                double lr = Schedules.LearningRate(o, globalStep, plan.TotalSteps, plan.StepsPerEpoch);
                foreach (var g in l.Optimizer.ParamGroups) g.LearningRate = lr;
                int start = step * o.BatchSize, count = (int)Math.Min(o.BatchSize, images - start);
                var idx = plan.Order.narrow(0, start, count);
                var x = plan.Augmenter.Augment(plan.X.index_select(0, idx), own ?? plan.Shuffle);
                var y = plan.Y.index_select(0, idx);
                double lambda = 1;
                Tensor? partner = null;
                if (mixup is not null) (x, lambda, partner) = mixup.Mix(x, own ?? plan.Shuffle);
                var logits = l.Logits(x);
                var loss = partner is null
                    ? nn.functional.cross_entropy(logits, y, label_smoothing: o.LabelSmoothing)
                    : Mixup.Loss(logits, y, lambda, partner, o.LabelSmoothing);
                if (plan.Exchange is not null)
                {
                    var logProbs = nn.functional.log_softmax(logits, 1);
                    using (no_grad()) plan.Exchange.Publish(l.Index, logProbs.exp());
                    var peers = plan.Exchange.MeanOfOthers(l.Index, token);
                    // KL(peers ‖ own), averaged over the batch; the peers' probabilities are constants here.
                    var kl = (peers * (peers.clamp_min(1e-8).log() - logProbs)).sum(1).mean();
                    loss = loss + kl * o.MutualLearning;
                }
                var yCounted = partner is not null && lambda < 0.5 ? y.index_select(0, partner) : y;
                l.Step(loss, globalStep);
                l.LossSum += loss.item<float>() * count;
                l.Correct += logits.argmax(1).eq(yCounted).sum().item<long>();
                l.Seen += count;
                lastLr = lr;
            }
        }
        finally
        {
            l.UseDropoutGenerator(null);
        }
        return lastLr;
    }

    /// <summary>
    /// Runs <paramref name="work"/> for every learner: inline for one, otherwise on one thread per learner (each with
    /// <see cref="ExpressionTrainingOptions.ThreadsPerNetwork"/> libtorch threads). When one fails, the others are
    /// cancelled through the token they are given, and the first real failure (or the caller's cancellation) is thrown.
    /// </summary>
    private static void RunOnEach(IReadOnlyList<Learner> learners, ExpressionTrainingOptions o, CancellationToken ct, Action<Learner, CancellationToken> work)
    {
        if (learners.Count == 1)
        {
            work(learners[0], ct);
            return;
        }
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var errors = new Exception?[learners.Count];
        var threads = learners.Select((l, k) => new Thread(() =>
        {
            try
            {
                torch.set_num_threads(o.ThreadsPerNetwork);
                work(l, stop.Token);
            }
            catch (Exception e)
            {
                errors[k] = e;
                stop.Cancel();
            }
        }) { IsBackground = true, Name = $"FacialExpression network {k + 1}" }).ToArray();
        int started = 0;
        try
        {
            for (; started < threads.Length; started++) threads[started].Start();
        }
        finally
        {
            // If a thread cannot be started, the ones running are stopped before the learners they use are disposed.
            if (started < threads.Length) stop.Cancel();
            for (int k = 0; k < started; k++) threads[k].Join();
        }
        var failure = errors.FirstOrDefault(e => e is not null and not OperationCanceledException);
        if (failure is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        ct.ThrowIfCancellationRequested();
        if (errors.FirstOrDefault(e => e is not null) is { } other) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(other);
    }

    /// <summary>
    /// Mean loss and accuracy on the centre crops of a validation set, of one network or of the ensemble of all
    /// learners' networks (their probabilities averaged), in eval mode without gradients; modes are restored.
    /// </summary>
    private static (double Loss, double Accuracy) Validate(IReadOnlyList<Learner> learners, Func<Learner, ExpressionNet> pick,
        Tensor x, Tensor y, int crop, ExpressionTrainingOptions o, CancellationToken ct)
    {
        if (learners.Count == 1) return Validate(pick(learners[0]), x, y, crop, ct);
        var probabilities = new Tensor[learners.Count];
        try
        {
            RunOnEach(learners, o, ct, (l, token) => probabilities[l.Index] = Probabilities(pick(l), x, crop, token));
            using var scope = NewDisposeScope();
            var mean = stack(probabilities).mean([0L]);
            double loss = -mean.gather(1, y.unsqueeze(1)).clamp_min(1e-12).log().mean().item<float>();
            double accuracy = (double)mean.argmax(1).eq(y).sum().item<long>() / y.shape[0];
            return (loss, accuracy);
        }
        finally
        {
            foreach (var p in probabilities) p?.Dispose();
        }
    }

    /// <summary>Class probabilities of one network on the centre crops of <paramref name="x"/>; the network's mode is restored.</summary>
    private static Tensor Probabilities(ExpressionNet net, Tensor x, int crop, CancellationToken ct)
    {
        var parts = new List<Tensor>();
        try
        {
            ForEachCentreBatch(net, x, crop, ct, (_, _, logits) => parts.Add(nn.functional.softmax(logits, 1).MoveToOuterDisposeScope()));
            return cat(parts, 0);
        }
        finally
        {
            foreach (var p in parts) p.Dispose();
        }
    }

    /// <summary>Mean loss and accuracy on the centre crops of a validation set, in eval mode without gradients; the network's mode is restored.</summary>
    internal static (double Loss, double Accuracy) Validate(ExpressionNet net, Tensor x, Tensor y, int crop, CancellationToken ct)
    {
        double lossSum = 0; long correct = 0;
        ForEachCentreBatch(net, x, crop, ct, (start, count, logits) =>
        {
            var yb = y.narrow(0, start, count);
            lossSum += nn.functional.cross_entropy(logits, yb, reduction: nn.Reduction.Sum).item<float>();
            correct += logits.argmax(1).eq(yb).sum().item<long>();
        });
        long n = x.shape[0];
        return (lossSum / n, (double)correct / n);
    }

    /// <summary>
    /// Runs <paramref name="net"/> in eval mode without gradients over the centre crops of <paramref name="x"/>, 512 images
    /// at a time, and hands each batch's start, size and logits to <paramref name="use"/> inside that batch's dispose scope
    /// (move out what must outlive it). The network's mode is restored, also when cancelled.
    /// </summary>
    private static void ForEachCentreBatch(ExpressionNet net, Tensor x, int crop, CancellationToken ct, Action<long, long, Tensor> use)
    {
        bool wasTraining = net.training;
        net.eval();
        try
        {
            using var noGrad = no_grad();
            const int batch = 512;
            for (long start = 0; start < x.shape[0]; start += batch)
            {
                ct.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                long count = Math.Min(batch, x.shape[0] - start);
                use(start, count, net.call(BatchAugmenter.CenterCrop(x.narrow(0, start, count), crop)));
            }
        }
        finally
        {
            if (wasTraining) net.train();
        }
    }

    private static (float Mean, float Std) MeanStd(float[] pixels)
    {
        double sum = 0, sq = 0;
        foreach (var p in pixels) { sum += p; sq += (double)p * p; }
        double mean = sum / pixels.Length;
        double std = Math.Sqrt(Math.Max(sq / pixels.Length - mean * mean, 1e-8));
        return ((float)mean, (float)Math.Max(std, 1e-3));
    }

    internal static Dictionary<string, Tensor> CloneWeights(nn.Module net)
    {
        using var scope = NewDisposeScope();
        var copy = new Dictionary<string, Tensor>();
        foreach (var (name, t) in net.state_dict()) copy[name] = t.detach().clone().MoveToOuterDisposeScope();
        return copy;
    }

    private static void RestoreWeights(nn.Module net, Dictionary<string, Tensor> weights)
    {
        using var noGrad = no_grad();
        var current = net.state_dict();
        foreach (var (name, t) in weights) current[name].copy_(t);
    }

    internal static void DisposeAll(Dictionary<string, Tensor>? weights)
    {
        if (weights is null) return;
        foreach (var t in weights.Values) t.Dispose();
    }
}

/// <summary>Learning-rate schedules, evaluated per optimisation step.</summary>
internal static class Schedules
{
    public static double LearningRate(ExpressionTrainingOptions o, long step, long totalSteps, int stepsPerEpoch)
    {
        double peak = o.LearningRate;
        if (o.Schedule == LearningRateSchedule.OneCycle)
        {
            long up = Math.Max(1, (long)(0.3 * totalSteps));
            if (step < up) return peak * (0.04 + 0.96 * step / up);
            double t = (double)(step - up) / Math.Max(1, totalSteps - up);
            return peak / 1000 + (peak - peak / 1000) * 0.5 * (1 + Math.Cos(Math.PI * t));
        }
        long warm = (long)(o.WarmupEpochs * stepsPerEpoch);
        if (step < warm) return peak * (step + 1) / warm;
        double p = (double)(step - warm) / Math.Max(1, totalSteps - warm);
        return peak * 0.5 * (1 + Math.Cos(Math.PI * p));
    }
}

/// <summary>Checkpoint state written after every epoch.</summary>
internal sealed record CheckpointState(int Epoch, int BestEpoch, double BestAccuracy, int SinceBest, IReadOnlyList<TrainingProgress> History);

/// <summary>
/// Per-epoch checkpoints (weights, optimiser state, weight average when on, loop state, best weights, learning curve) for
/// resuming. Each epoch's files carry the epoch in their names and <c>state.json</c>, written last, names the epoch that is
/// complete: a process killed half-way through writing epoch N + 1 resumes from epoch N with epoch N's files, never a mix.
/// Files of older epochs are deleted once the new state is in place.
/// </summary>
internal sealed class Checkpoint : IDisposable
{
    private const string LockName = ".lock";
    private readonly string _folder;
    private readonly string _fingerprint;
    private readonly string _data;
    private readonly FileStream _lock;

    /// <summary>
    /// Takes the folder for this run: an exclusive lock on its <c>.lock</c> file, held until <see cref="Dispose"/>, so
    /// that two runs never delete each other's files; then removes temporary files that killed writes left behind.
    /// </summary>
    /// <exception cref="InvalidOperationException">Another run holds the folder.</exception>
    public Checkpoint(string folder, ExpressionTrainingOptions o, string data)
    {
        _data = data;
        _folder = Path.GetFullPath(folder);
        Directory.CreateDirectory(_folder);
        _fingerprint = Fingerprint(o);
        try
        {
            _lock = new FileStream(Path.Combine(_folder, LockName), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose);
        }
        catch (IOException e)
        {
            throw new InvalidOperationException($"Checkpoint folder '{_folder}' is in use by another training run (it holds '{LockName}'). Wait for that run to end, or choose another CheckpointFolder.", e);
        }
        // With the lock held no other run writes here: a temporary file of ours is what a killed write left.
        foreach (var orphan in new[] { "epoch-*", "best-*", "state.json", "learning-curve.csv" }
                     .SelectMany(name => AtomicFile.TemporaryFiles(_folder, name)).ToList())
            File.Delete(orphan);
    }

    public void Dispose() => _lock.Dispose();

    /// <summary>
    /// The options a checkpoint must be resumed with, as JSON. Epochs, patience, threads and precision may change
    /// between sessions (the weights are float32 either way). Options added after the first release are omitted at
    /// their defaults so that folders written before them resume; <see cref="ExpressionTrainingOptions.Networks"/> is
    /// written as 0 (omitted) when it is 1.
    /// </summary>
    internal static string Fingerprint(ExpressionTrainingOptions o) =>
        JsonSerializer.Serialize(o with { CheckpointFolder = null, Epochs = 0, EarlyStoppingPatience = 0, Threads = null, Precision = TrainingPrecision.Float32, Networks = o.Networks == 1 ? 0 : o.Networks });

    /// <summary>
    /// The state holds −∞ as the best accuracy of a run without validation, and a diverged run's losses are NaN;
    /// plain JSON has neither, so they are written as the named literals.
    /// </summary>
    private static readonly JsonSerializerOptions StateJson = new() { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    private string StatePath => Path.Combine(_folder, "state.json");
    private string CurvePath => Path.Combine(_folder, "learning-curve.csv");
    private string EpochPath(int epoch, string kind, int network) => Path.Combine(_folder, $"epoch-{epoch:D4}{NetworkPart(network)}.{kind}");
    private string BestPath(int epoch, int network) => Path.Combine(_folder, $"best-{epoch:D4}{NetworkPart(network)}.weights");
    private static string NetworkPart(int network) => network == 0 ? "" : $".net{network + 1}";

    /// <summary>
    /// Writes the epoch's checkpoint for every learner: raw weights, optimiser state, weight average when there is one,
    /// and the kept network's weights when the epoch is the best. Network 1's files have the names a single-network run
    /// has always used; network k's carry <c>.netk</c> before the extension.
    /// </summary>
    public void Save(IReadOnlyList<Learner> learners, CheckpointState state, bool isBest)
    {
        foreach (var l in learners)
        {
            AtomicFile.Write(EpochPath(state.Epoch, "weights", l.Index), s => l.Net.save(s));
            AtomicFile.Write(EpochPath(state.Epoch, "optimizer", l.Index), s => { using var w = new BinaryWriter(s, System.Text.Encoding.UTF8, leaveOpen: true); l.Optimizer.save_state_dict(w); });
            if (l.Average is not null) AtomicFile.Write(EpochPath(state.Epoch, "average", l.Index), s => l.Average.Net.save(s));
            if (isBest) AtomicFile.Write(BestPath(state.Epoch, l.Index), s => l.Kept.save(s));
        }
        AtomicFile.WriteText(CurvePath, LearningCurve.ToCsv(state.History));
        // The state file is written last: it is what marks the epoch as complete and names its files.
        AtomicFile.WriteText(StatePath, JsonSerializer.Serialize(new StoredState(_fingerprint, state, _data), StateJson));
        var keep = new HashSet<string>(StringComparer.Ordinal);
        foreach (var l in learners)
        {
            keep.Add(EpochPath(state.Epoch, "weights", l.Index)); keep.Add(EpochPath(state.Epoch, "optimizer", l.Index));
            keep.Add(EpochPath(state.Epoch, "average", l.Index)); keep.Add(BestPath(state.BestEpoch, l.Index));
        }
        var earlierLayout = new[] { "last.weights", "last.optimizer", "average.weights", "best.weights" }.Select(n => Path.Combine(_folder, n));
        foreach (var stale in Directory.EnumerateFiles(_folder, "epoch-*").Concat(Directory.EnumerateFiles(_folder, "best-*")).Concat(earlierLayout)
                     .Where(f => !keep.Contains(f) && File.Exists(f)).ToList())
            File.Delete(stale);
    }

    public bool TryResume(IReadOnlyList<Learner> learners, out CheckpointState? state)
    {
        state = null;
        if (!File.Exists(StatePath)) return false;
        StoredState? stored;
        try { stored = JsonSerializer.Deserialize<StoredState>(File.ReadAllText(StatePath), StateJson); }
        catch (JsonException e) { throw Unusable($"its state file '{StatePath}' is not readable JSON ({e.Message})", e); }
        if (stored?.State is null) throw Unusable($"its state file '{StatePath}' is empty");
        if (stored.Options != _fingerprint)
            throw new InvalidOperationException($"Checkpoint folder '{_folder}' holds a run with different training options ({Differences(stored.Options, _fingerprint)}). Use the same options to resume, or another (or empty) CheckpointFolder to start afresh.");
        // Folders written before the data was recorded have none; they resume as before.
        if (stored.Data is not null && stored.Data != _data)
            throw new InvalidOperationException($"Checkpoint folder '{_folder}' holds a run on different data (in the checkpoint: {stored.Data}; now: {_data}). Use the same training and validation data to resume, or another (or empty) CheckpointFolder to start afresh.");
        int epoch = stored.State.Epoch;
        foreach (var l in learners)
        {
            Load(l.Net, Existing(EpochPath(epoch, "weights", l.Index), "last.weights", l.Index));
            using (var s = File.OpenRead(Existing(EpochPath(epoch, "optimizer", l.Index), "last.optimizer", l.Index))) using (var r = new BinaryReader(s)) l.Optimizer.load_state_dict(r);
            if (l.Average is not null) Load(l.Average.Net, Existing(EpochPath(epoch, "average", l.Index), "average.weights", l.Index));
        }
        state = stored.State;
        return true;
    }

    /// <summary>The best epoch's weights (of the averaged network when there is one), leaving the learner's network as it was.</summary>
    public Dictionary<string, Tensor>? LoadBest(Learner learner, CheckpointState state)
    {
        if (state.BestEpoch < 1) return null;
        var net = learner.Net;
        var current = Trainer.CloneWeights(net);
        try
        {
            var best = BestPath(state.BestEpoch, learner.Index);
            var path = Existing(best, "best.weights", learner.Index);
            // A folder in the earlier layout: give its best weights the name the next state file will use, because
            // the next checkpoint deletes the earlier layout's files.
            if (path != best) AtomicFile.Write(best, s => { using var earlier = File.OpenRead(path); earlier.CopyTo(s); });
            Load(net, path);
            return Trainer.CloneWeights(net);
        }
        finally
        {
            using (no_grad()) foreach (var (name, t) in net.state_dict()) t.copy_(current[name]);
            foreach (var t in current.Values) t.Dispose();
        }
    }

    private static void Load(ExpressionNet net, string path)
    {
        using var s = File.OpenRead(path);
        net.load(s);
    }

    /// <summary><paramref name="path"/>, or (for network 1) the file of the earlier single-set layout (<c>last.weights</c>, ...) that folders written by earlier versions hold.</summary>
    private string Existing(string path, string earlierLayoutName, int network)
    {
        if (File.Exists(path)) return path;
        var earlier = Path.Combine(_folder, earlierLayoutName);
        return network == 0 && File.Exists(earlier) ? earlier : throw Unusable($"'{Path.GetFileName(path)}', which its state file names, is missing");
    }

    private InvalidOperationException Unusable(string why, Exception? inner = null) =>
        new($"Checkpoint folder '{_folder}' cannot be resumed: {why}. Delete the folder (or choose another CheckpointFolder) to start afresh.", inner);

    /// <summary>Names each option that differs between two serialised option sets, e.g. <c>LearningRate: 0.05 in the checkpoint, 0.01 now</c>.</summary>
    private static string Differences(string stored, string current)
    {
        var then = System.Text.Json.Nodes.JsonNode.Parse(stored)?.AsObject();
        var now = System.Text.Json.Nodes.JsonNode.Parse(current)?.AsObject();
        if (then is null || now is null) return "unreadable options in the checkpoint";
        var names = then.Select(p => p.Key).Union(now.Select(p => p.Key));
        var differing = names
            .Where(n => !System.Text.Json.Nodes.JsonNode.DeepEquals(then[n], now[n]))
            .Select(n => $"{n}: {then[n]?.ToJsonString() ?? "absent"} in the checkpoint, {now[n]?.ToJsonString() ?? "absent"} now");
        return string.Join("; ", differing);
    }

    /// <summary>
    /// What identifies a run's data for resuming: labels, image counts, and the training pixels' mean and standard
    /// deviation (which any change of the images almost surely moves).
    /// </summary>
    internal static string DataFingerprint(LabeledImages train, LabeledImages? validation, float mean, float std) =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"labels [{string.Join(", ", train.Labels)}], {train.Count} training images, {validation?.Count ?? 0} validation images, pixel mean {mean:R} and std {std:R}");

    private sealed record StoredState(string Options, CheckpointState State, string? Data = null);
}

/// <summary>Formats a run's per-epoch history as CSV.</summary>
internal static class LearningCurve
{
    public static string ToCsv(IEnumerable<TrainingProgress> history)
    {
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        var lines = new List<string> { "epoch,train_loss,train_accuracy,val_loss,val_accuracy,learning_rate,images_per_second,elapsed_seconds,raw_val_accuracy" };
        lines.AddRange(history.Select(h => string.Join(',',
            h.Epoch.ToString(inv), h.TrainLoss.ToString("R", inv), h.TrainAccuracy.ToString("R", inv),
            h.ValidationLoss?.ToString("R", inv) ?? "", h.ValidationAccuracy?.ToString("R", inv) ?? "",
            h.LearningRate.ToString("R", inv), h.ImagesPerSecond.ToString("F1", inv), h.Elapsed.TotalSeconds.ToString("F1", inv),
            h.RawValidationAccuracy?.ToString("R", inv) ?? "")));
        return string.Join('\n', lines) + "\n";
    }
}

using System.Globalization;
using System.Text;

namespace FacialExpression;

/// <summary>Test-time augmentation used by <see cref="ExpressionModel"/> when predicting and evaluating.</summary>
public enum TestTimeAugmentation
{
    /// <summary>One forward pass on the centre crop: the fastest, and the default for trained models (<see cref="ExpressionModel.LoadPretrained"/> uses <see cref="Flip"/>).</summary>
    None,

    /// <summary>Average the centre crop and its mirror image (2 passes).</summary>
    Flip,

    /// <summary>Average the four corner crops, the centre crop and the mirror of each (10 passes).</summary>
    TenCrop,
}

/// <summary>The expression predicted for one image.</summary>
/// <param name="Label">The most probable expression.</param>
/// <param name="Confidence">The probability of <paramref name="Label"/>, between 0 and 1.</param>
/// <param name="Scores">Probability of every label, in <see cref="ExpressionModel.Labels"/> order; they sum to 1.</param>
public sealed record ExpressionPrediction(string Label, float Confidence, IReadOnlyDictionary<string, float> Scores)
{
    /// <inheritdoc />
    public override string ToString() => $"{Label} ({Confidence.ToString("P1", CultureInfo.InvariantCulture)})";

    /// <summary>Value equality: the same label, confidence and score for every label (in the same order).</summary>
    /// <param name="other">The prediction to compare with.</param>
    /// <returns>Whether both predictions hold the same values.</returns>
    public bool Equals(ExpressionPrediction? other) =>
        other is not null && Label == other.Label && Confidence.Equals(other.Confidence) && Scores.SequenceEqual(other.Scores);

    /// <inheritdoc />
    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(Label);
        hash.Add(Confidence);
        foreach (var (label, score) in Scores) { hash.Add(label); hash.Add(score); }
        return hash.ToHashCode();
    }
}

/// <summary>A snapshot of training progress: a message after loading the data, for warnings, on resuming and on early stopping, and a report after every epoch.</summary>
public sealed record TrainingProgress
{
    /// <summary>The epoch just finished (1-based), or 0 for a message-only report (data summary, skipped files, resume or early-stopping note).</summary>
    public int Epoch { get; init; }

    /// <summary>The number of epochs the run was asked for.</summary>
    public int TotalEpochs { get; init; }

    /// <summary>Mean training loss over the epoch (averaged over the networks, with the mutual-learning term included, when <see cref="ExpressionTrainingOptions.Networks"/> is more than one).</summary>
    public double TrainLoss { get; init; }

    /// <summary>Training accuracy over the epoch (on augmented images; averaged over the networks when there are several).</summary>
    public double TrainAccuracy { get; init; }

    /// <summary>Validation loss after the epoch (of the averaged weights when <see cref="ExpressionTrainingOptions.WeightAveragingDecay"/> is on; with several networks, the negative log of their averaged probabilities), or <c>null</c> when there is no validation data.</summary>
    public double? ValidationLoss { get; init; }

    /// <summary>Validation accuracy after the epoch (of the averaged weights when <see cref="ExpressionTrainingOptions.WeightAveragingDecay"/> is on; of their ensemble when there are several networks), or <c>null</c> when there is no validation data.</summary>
    public double? ValidationAccuracy { get; init; }

    /// <summary>
    /// With <see cref="ExpressionTrainingOptions.WeightAveragingDecay"/> on, the validation accuracy of the raw
    /// (not averaged) weights (of their ensemble, with several networks) after the first epoch, every fifth epoch and the last one, for comparison with
    /// <see cref="ValidationAccuracy"/>, which is the averaged weights'; otherwise <c>null</c>. (Each raw check costs
    /// a second validation pass, so it is not made every epoch.)
    /// </summary>
    public double? RawValidationAccuracy { get; init; }

    /// <summary>
    /// The validation loss of the raw weights on the epochs that have a <see cref="RawValidationAccuracy"/>, for
    /// comparison with <see cref="ValidationLoss"/>; otherwise <c>null</c>. Unlike accuracy, it tells two networks apart
    /// even when they classify every validation image alike.
    /// </summary>
    public double? RawValidationLoss { get; init; }

    /// <summary>Learning rate at the end of the epoch.</summary>
    public double LearningRate { get; init; }

    /// <summary>
    /// Wall time spent training since the run started. A run resumed from a checkpoint continues the count of the
    /// earlier segments (the time between interruption and resume, and the interrupted epoch's partial work, are not counted).
    /// </summary>
    public TimeSpan Elapsed { get; init; }

    /// <summary>Training throughput of the epoch, in training-set images per second (each counted once, however many networks train on it).</summary>
    public double ImagesPerSecond { get; init; }

    /// <summary>
    /// <c>true</c> when this epoch is the best so far on validation accuracy (its weights are kept). Without validation
    /// data every epoch counts as the best, so the last epoch's weights are returned.
    /// </summary>
    public bool IsBestEpoch { get; init; }

    /// <summary>A note such as the data summary or skipped files, or <c>null</c> for a plain epoch report.</summary>
    public string? Message { get; init; }

    /// <inheritdoc />
    public override string ToString()
    {
        if (Epoch == 0) return Message ?? "";
        var s = string.Create(CultureInfo.InvariantCulture,
            $"epoch {Epoch}/{TotalEpochs}  loss {TrainLoss:F4}  acc {TrainAccuracy:P1}");
        if (ValidationAccuracy is double va)
            s += string.Create(CultureInfo.InvariantCulture, $"  val_loss {ValidationLoss:F4}  val_acc {va:P2}{(IsBestEpoch ? " *" : "")}");
        if (RawValidationAccuracy is double raw)
            s += string.Create(CultureInfo.InvariantCulture, $"  raw_val_acc {raw:P2}");
        s += string.Create(CultureInfo.InvariantCulture, $"  lr {LearningRate:G3}  {ImagesPerSecond:F0} img/s  {(int)Elapsed.TotalHours:00}:{Elapsed:mm\\:ss}");
        return Message is null ? s : s + "  " + Message;
    }
}

/// <summary>Precision, recall and F1 of one class.</summary>
/// <param name="Label">The class.</param>
/// <param name="Precision">Of the images predicted as this class, the fraction that are.</param>
/// <param name="Recall">Of the images of this class, the fraction predicted as it.</param>
/// <param name="F1">Harmonic mean of precision and recall (0 when both are 0).</param>
/// <param name="Support">Number of test images of this class.</param>
public readonly record struct ClassMetrics(string Label, double Precision, double Recall, double F1, int Support);

/// <summary>Metrics of a model on a labelled test set, computed with ML.NET's multiclass evaluator.</summary>
public sealed class EvaluationReport
{
    private readonly int[,] _confusion;

    internal EvaluationReport(IReadOnlyList<string> labels, double accuracy, double macroAccuracy, double logLoss,
        int[,] confusion, IReadOnlyList<ClassMetrics> perClass, int skipped)
    {
        Labels = labels.ToArray().AsReadOnly();
        Accuracy = accuracy;
        MacroAccuracy = macroAccuracy;
        LogLoss = logLoss;
        _confusion = confusion;
        PerClass = perClass.ToArray().AsReadOnly();
        // Like scikit-learn, average over the labels that occur in the test set or the predictions: a label absent from
        // both (a test folder holding only some classes) has no F1 to speak of.
        var occurring = perClass.Where((c, i) => c.Support > 0 || Enumerable.Range(0, perClass.Count).Any(a => confusion[a, i] > 0)).ToList();
        MacroF1 = occurring.Count == 0 ? 0 : occurring.Average(c => c.F1);
        Count = perClass.Sum(c => c.Support);
        SkippedImages = skipped;
    }

    /// <summary>Fraction of images whose top prediction is the true label (ML.NET's micro-accuracy).</summary>
    public double Accuracy { get; }

    /// <summary>
    /// Mean recall over the labels that occur in the test set (ML.NET's macro-accuracy); labels without test images
    /// are left out, though <see cref="PerClass"/> lists them with recall 0.
    /// </summary>
    public double MacroAccuracy { get; }

    /// <summary>Unweighted mean of the per-class F1 scores, over the labels that occur in the test set or the predictions.</summary>
    public double MacroF1 { get; }

    /// <summary>Mean negative log-likelihood of the true labels.</summary>
    public double LogLoss { get; }

    /// <summary>The model's labels; the order of <see cref="ConfusionMatrix"/> rows and columns.</summary>
    public IReadOnlyList<string> Labels { get; }

    /// <summary>A copy of the confusion matrix, indexed <c>[actual, predicted]</c> in <see cref="Labels"/> order.</summary>
    public int[,] ConfusionMatrix => (int[,])_confusion.Clone();

    /// <summary>Precision, recall, F1 and support of every label, in <see cref="Labels"/> order.</summary>
    public IReadOnlyList<ClassMetrics> PerClass { get; }

    /// <summary>Number of images evaluated.</summary>
    public int Count { get; }

    /// <summary>Number of unreadable files skipped in the test folder.</summary>
    public int SkippedImages { get; }

    /// <summary>A readable table: summary metrics, per-class metrics and the confusion matrix.</summary>
    /// <returns>The multi-line report.</returns>
    public override string ToString()
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        int w = Math.Max(9, Labels.Max(l => l.Length) + 1);
        sb.AppendLine(inv, $"Images: {Count}{(SkippedImages > 0 ? $" ({SkippedImages} unreadable skipped)" : "")}");
        sb.AppendLine(inv, $"Accuracy: {Accuracy:P2}   Macro-F1: {MacroF1:P2}   Macro-accuracy: {MacroAccuracy:P2}   Log-loss: {LogLoss:F4}");
        sb.AppendLine();
        sb.Append("Label".PadRight(w)).AppendLine(" Precision  Recall      F1  Support");
        foreach (var c in PerClass)
            sb.Append(c.Label.PadRight(w)).AppendLine(inv, $" {c.Precision,9:P1} {c.Recall,7:P1} {c.F1,7:P1} {c.Support,8}");
        sb.AppendLine();
        sb.AppendLine("Confusion matrix (rows: actual, columns: predicted)");
        sb.Append("".PadRight(w));
        foreach (var l in Labels) sb.Append(' ').Append(Abbrev(l).PadLeft(7));
        sb.AppendLine();
        for (int i = 0; i < Labels.Count; i++)
        {
            sb.Append(Labels[i].PadRight(w));
            for (int j = 0; j < Labels.Count; j++) sb.Append(' ').Append(_confusion[i, j].ToString(inv).PadLeft(7));
            sb.AppendLine();
        }
        return sb.ToString();
    }

    private static string Abbrev(string label) => label.Length <= 7 ? label : label[..7];
}

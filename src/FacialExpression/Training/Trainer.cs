using System.Diagnostics;
using System.Text.Json;
using FacialExpression.Data;
using FacialExpression.Modeling;
using TorchSharp;
using static TorchSharp.torch;
using OptimizerHelper = TorchSharp.Modules.OptimizerHelper;

namespace FacialExpression.Training;

/// <summary>Result of a training run: the trained network (best epoch restored) and a summary.</summary>
internal sealed record TrainingOutcome(ExpressionNet Net, int EpochsRun, int BestEpoch, double? BestValidationAccuracy, double SecondsPerEpoch, double ImagesPerSecond, IReadOnlyList<TrainingProgress> History);

/// <summary>
/// The training loop: seeded shuffling, batched augmentation and optional mixup, SGD/AdamW with a per-step schedule, validation every
/// epoch, optional weight averaging, early stopping that restores the best weights, and optional per-epoch checkpoints for resuming.
/// </summary>
internal static class Trainer
{
    /// <summary>With weight averaging, the raw network is validated after the first epoch, every this many epochs and the last.</summary>
    internal const int RawValidationInterval = 5;

    public static TrainingOutcome Run(LabeledImages train, LabeledImages? validation, ExpressionTrainingOptions o,
        IProgress<TrainingProgress>? progress, CancellationToken ct)
    {
        TorchRuntime.EnsureLoaded();
        // libtorch's thread count is process-wide: set for this run, restored in the finally block below.
        int callersThreads = torch.get_num_threads();
        torch.set_num_threads(o.Threads ?? Environment.ProcessorCount);
        var clock = Stopwatch.StartNew();
        int size = train.ImageSize, crop = o.EffectiveCropSize, classes = train.Labels.Count;
        var (mean, std) = MeanStd(train.Pixels);

        torch.manual_seed(o.Seed);
        var net = new ExpressionNet(o.Architecture, classes, o.Dropout, mean, std);
        OptimizerHelper? optimizer = null;
        BFloat16Copy? bf16 = null;
        WeightAverage? average = null;
        Tensor? xTrain = null, yTrain = null, xVal = null, yVal = null;
        var succeeded = false;
        try
        {
            xTrain = tensor(train.Pixels, [train.Count, 1, size, size]);
            yTrain = tensor(train.Targets.Select(t => (long)t).ToArray());
            if (validation is { Count: > 0 })
            {
                xVal = tensor(validation.Pixels, [validation.Count, 1, size, size]);
                yVal = tensor(validation.Targets.Select(t => (long)t).ToArray());
            }

            var parameters = net.parameters().ToArray();
            optimizer = o.Optimizer == ExpressionOptimizer.AdamW
                ? optim.AdamW(parameters, o.LearningRate, beta1: o.Momentum, weight_decay: o.WeightDecay)
                : optim.SGD(parameters, o.LearningRate, momentum: o.Momentum, nesterov: o.Momentum > 0, weight_decay: o.WeightDecay);

            if (o.Precision == TrainingPrecision.BFloat16) bf16 = new BFloat16Copy(net, o.Architecture, classes, o.Dropout);
            if (o.WeightAveragingDecay > 0) average = new WeightAverage(net, o.Architecture, classes, o.Dropout, o.WeightAveragingDecay);
            var augmenter = new BatchAugmenter(o);
            int stepsPerEpoch = (train.Count + o.BatchSize - 1) / o.BatchSize;
            long totalSteps = (long)stepsPerEpoch * o.Epochs;
            var history = new List<TrainingProgress>();
            var checkpoint = o.CheckpointFolder is null ? null : new Checkpoint(o.CheckpointFolder, o);
            int startEpoch = 1, bestEpoch = 0, sinceBest = 0;
            double bestAcc = double.NegativeInfinity;
            Dictionary<string, Tensor>? bestWeights = null;
            var earlierSegments = TimeSpan.Zero;
            if (checkpoint?.TryResume(net, optimizer, average?.Net, out var state) == true)
            {
                startEpoch = state!.Epoch + 1; bestEpoch = state.BestEpoch; bestAcc = state.BestAccuracy; sinceBest = state.SinceBest;
                history.AddRange(state.History);
                // Elapsed counts the training time of every segment, so a resumed run continues the count.
                earlierSegments = state.History.Count > 0 ? state.History[^1].Elapsed : TimeSpan.Zero;
                bestWeights = checkpoint.LoadBest(net, state);
                progress?.Report(new TrainingProgress { TotalEpochs = o.Epochs, Elapsed = earlierSegments + clock.Elapsed, Message = $"Resumed from checkpoint after epoch {state.Epoch} in '{o.CheckpointFolder}'." });
            }

            double lastLr = o.LearningRate;
            double trainSeconds = 0; long trainImages = 0;
            int epoch = startEpoch;
            for (; epoch <= o.Epochs; epoch++)
            {
                ct.ThrowIfCancellationRequested();
                var epochClock = Stopwatch.StartNew();
                // Per-epoch seeds make a resumed run identical to an uninterrupted one.
                torch.manual_seed(o.Seed * 100_003L + epoch);
                using var gen = new Generator((ulong)(o.Seed * 1_000_003L + epoch));
                var mixup = o.MixupAlpha > 0 ? new Mixup(o.MixupAlpha, unchecked(o.Seed * 7_919 + epoch)) : null;
                net.train();
                double lossSum = 0; long correct = 0, seen = 0;
                using (var perm = randperm(train.Count, generator: gen))
                {
                    for (int step = 0; step < stepsPerEpoch; step++)
                    {
                        ct.ThrowIfCancellationRequested();
                        using var scope = NewDisposeScope();
                        long globalStep = (long)(epoch - 1) * stepsPerEpoch + step;
                        lastLr = Schedules.LearningRate(o, globalStep, totalSteps, stepsPerEpoch);
                        foreach (var g in optimizer.ParamGroups) g.LearningRate = lastLr;
                        int start = step * o.BatchSize, count = Math.Min(o.BatchSize, train.Count - start);
                        var idx = perm.narrow(0, start, count);
                        var x = augmenter.Augment(xTrain.index_select(0, idx), gen);
                        var y = yTrain.index_select(0, idx);
                        double lambda = 1;
                        Tensor? partner = null;
                        if (mixup is not null) (x, lambda, partner) = mixup.Mix(x, gen);
                        var logits = bf16?.Forward(x) ?? net.call(x);
                        var loss = partner is null
                            ? nn.functional.cross_entropy(logits, y, label_smoothing: o.LabelSmoothing)
                            : Mixup.Loss(logits, y, lambda, partner, o.LabelSmoothing);
                        var yCounted = partner is not null && lambda < 0.5 ? y.index_select(0, partner) : y;
                        optimizer.zero_grad();
                        loss.backward();
                        bf16?.TransferGradients();
                        optimizer.step();
                        average?.Update(globalStep);
                        lossSum += loss.item<float>() * count;
                        correct += logits.argmax(1).eq(yCounted).sum().item<long>();
                        seen += count;
                    }
                }
                double seconds = epochClock.Elapsed.TotalSeconds;
                trainSeconds += seconds; trainImages += seen;
                // With weight averaging, the averaged network is the one validated, selected and returned; the raw
                // network's loss and accuracy are reported alongside, on the epochs RawValidationInterval describes.
                var kept = average?.Net ?? net;
                double? vLoss = null, vAcc = null, rawLoss = null, rawAcc = null;
                if (xVal is not null)
                {
                    (vLoss, vAcc) = Validate(kept, xVal, yVal!, crop, ct);
                    if (average is not null && (epoch == 1 || epoch % RawValidationInterval == 0 || epoch == o.Epochs))
                        (rawLoss, rawAcc) = Validate(net, xVal, yVal!, crop, ct);
                }
                bool best = vAcc is double a ? a > bestAcc : true;
                if (best)
                {
                    bestAcc = vAcc ?? double.NegativeInfinity; bestEpoch = epoch; sinceBest = 0;
                    DisposeAll(bestWeights);
                    bestWeights = CloneWeights(kept);
                }
                else sinceBest++;
                var report = new TrainingProgress
                {
                    Epoch = epoch, TotalEpochs = o.Epochs, TrainLoss = lossSum / seen, TrainAccuracy = (double)correct / seen,
                    ValidationLoss = vLoss, ValidationAccuracy = vAcc, RawValidationLoss = rawLoss, RawValidationAccuracy = rawAcc, LearningRate = lastLr, Elapsed = earlierSegments + clock.Elapsed,
                    ImagesPerSecond = seen / seconds, IsBestEpoch = best,
                };
                history.Add(report);
                checkpoint?.Save(net, optimizer, average?.Net, new CheckpointState(epoch, bestEpoch, bestAcc, sinceBest, history), best);
                progress?.Report(report);
                if (xVal is not null && o.EarlyStoppingPatience > 0 && sinceBest >= o.EarlyStoppingPatience)
                {
                    progress?.Report(new TrainingProgress { Epoch = 0, TotalEpochs = o.Epochs, Elapsed = earlierSegments + clock.Elapsed, Message = $"Early stopping after epoch {epoch}: no validation improvement for {sinceBest} epochs; restoring epoch {bestEpoch}." });
                    epoch++;
                    break;
                }
            }
            if (bestWeights is not null) RestoreWeights(net, bestWeights);
            DisposeAll(bestWeights);
            net.eval();
            succeeded = true;
            int epochsRun = Math.Min(epoch - 1, o.Epochs) - startEpoch + 1;
            return new TrainingOutcome(net, Math.Min(epoch - 1, o.Epochs), bestEpoch, double.IsNegativeInfinity(bestAcc) ? null : bestAcc,
                epochsRun > 0 ? trainSeconds / epochsRun : 0, trainSeconds > 0 ? trainImages / trainSeconds : 0, history);
        }
        finally
        {
            torch.set_num_threads(callersThreads);
            optimizer?.Dispose();
            bf16?.Dispose();
            average?.Dispose();
            xTrain?.Dispose(); yTrain?.Dispose(); xVal?.Dispose(); yVal?.Dispose();
            if (!succeeded) net.Dispose();
        }
    }

    /// <summary>Mean loss and accuracy on the centre crops of a validation set, in eval mode without gradients; the network's mode is restored.</summary>
    internal static (double Loss, double Accuracy) Validate(ExpressionNet net, Tensor x, Tensor y, int crop, CancellationToken ct)
    {
        bool wasTraining = net.training;
        net.eval();
        using var noGrad = no_grad();
        double lossSum = 0; long correct = 0; long n = x.shape[0];
        const int batch = 512;
        for (long start = 0; start < n; start += batch)
        {
            ct.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            long count = Math.Min(batch, n - start);
            var xb = BatchAugmenter.CenterCrop(x.narrow(0, start, count), crop);
            var yb = y.narrow(0, start, count);
            var logits = net.call(xb);
            lossSum += nn.functional.cross_entropy(logits, yb, reduction: nn.Reduction.Sum).item<float>();
            correct += logits.argmax(1).eq(yb).sum().item<long>();
        }
        if (wasTraining) net.train();
        return (lossSum / n, (double)correct / n);
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

    private static void DisposeAll(Dictionary<string, Tensor>? weights)
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
internal sealed class Checkpoint
{
    private readonly string _folder;
    private readonly string _fingerprint;

    public Checkpoint(string folder, ExpressionTrainingOptions o)
    {
        _folder = Path.GetFullPath(folder);
        Directory.CreateDirectory(_folder);
        // Epochs, patience, threads and precision may change between sessions: the weights are float32 either way.
        _fingerprint = JsonSerializer.Serialize(o with { CheckpointFolder = null, Epochs = 0, EarlyStoppingPatience = 0, Threads = null, Precision = TrainingPrecision.Float32 });
    }

    private string StatePath => Path.Combine(_folder, "state.json");
    private string CurvePath => Path.Combine(_folder, "learning-curve.csv");
    private string EpochPath(int epoch, string kind) => Path.Combine(_folder, $"epoch-{epoch:D4}.{kind}");
    private string BestPath(int epoch) => Path.Combine(_folder, $"best-{epoch:D4}.weights");

    /// <summary>Writes the epoch's checkpoint; <paramref name="average"/> is the weight-averaged network, when there is one, and is what "best" refers to.</summary>
    public void Save(ExpressionNet net, OptimizerHelper optimizer, ExpressionNet? average, CheckpointState state, bool isBest)
    {
        AtomicFile.Write(EpochPath(state.Epoch, "weights"), s => net.save(s));
        AtomicFile.Write(EpochPath(state.Epoch, "optimizer"), s => { using var w = new BinaryWriter(s, System.Text.Encoding.UTF8, leaveOpen: true); optimizer.save_state_dict(w); });
        if (average is not null) AtomicFile.Write(EpochPath(state.Epoch, "average"), s => average.save(s));
        if (isBest) AtomicFile.Write(BestPath(state.Epoch), s => (average ?? net).save(s));
        AtomicFile.WriteText(CurvePath, LearningCurve.ToCsv(state.History));
        // The state file is written last: it is what marks the epoch as complete and names its files.
        AtomicFile.WriteText(StatePath, JsonSerializer.Serialize(new StoredState(_fingerprint, state)));
        var keep = new HashSet<string>(StringComparer.Ordinal)
        {
            EpochPath(state.Epoch, "weights"), EpochPath(state.Epoch, "optimizer"), EpochPath(state.Epoch, "average"), BestPath(state.BestEpoch),
        };
        var earlierLayout = new[] { "last.weights", "last.optimizer", "average.weights", "best.weights" }.Select(n => Path.Combine(_folder, n));
        foreach (var stale in Directory.EnumerateFiles(_folder, "epoch-*").Concat(Directory.EnumerateFiles(_folder, "best-*")).Concat(earlierLayout)
                     .Where(f => !keep.Contains(f) && File.Exists(f)).ToList())
            File.Delete(stale);
    }

    public bool TryResume(ExpressionNet net, OptimizerHelper optimizer, ExpressionNet? average, out CheckpointState? state)
    {
        state = null;
        if (!File.Exists(StatePath)) return false;
        StoredState? stored;
        try { stored = JsonSerializer.Deserialize<StoredState>(File.ReadAllText(StatePath)); }
        catch (JsonException e) { throw Unusable($"its state file '{StatePath}' is not readable JSON ({e.Message})", e); }
        if (stored?.State is null) throw Unusable($"its state file '{StatePath}' is empty");
        if (stored.Options != _fingerprint)
            throw new InvalidOperationException($"Checkpoint folder '{_folder}' holds a run with different training options ({Differences(stored.Options, _fingerprint)}). Use the same options to resume, or another (or empty) CheckpointFolder to start afresh.");
        int epoch = stored.State.Epoch;
        Load(net, Existing(EpochPath(epoch, "weights"), "last.weights"));
        using (var s = File.OpenRead(Existing(EpochPath(epoch, "optimizer"), "last.optimizer"))) using (var r = new BinaryReader(s)) optimizer.load_state_dict(r);
        if (average is not null) Load(average, Existing(EpochPath(epoch, "average"), "average.weights"));
        state = stored.State;
        return true;
    }

    /// <summary>The best epoch's weights (of the averaged network when there is one), leaving <paramref name="net"/> as it was.</summary>
    public Dictionary<string, Tensor>? LoadBest(ExpressionNet net, CheckpointState state)
    {
        if (state.BestEpoch < 1) return null;
        var current = Trainer.CloneWeights(net);
        try
        {
            Load(net, Existing(BestPath(state.BestEpoch), "best.weights"));
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

    /// <summary><paramref name="path"/>, or the file of the earlier single-set layout (<c>last.weights</c>, ...) that folders written by earlier versions hold.</summary>
    private string Existing(string path, string earlierLayoutName)
    {
        if (File.Exists(path)) return path;
        var earlier = Path.Combine(_folder, earlierLayoutName);
        return File.Exists(earlier) ? earlier : throw Unusable($"'{Path.GetFileName(path)}', which its state file names, is missing");
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

    private sealed record StoredState(string Options, CheckpointState State);
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

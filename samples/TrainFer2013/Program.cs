// Trains the FER2013 model that ships inside the FacialExpression package: train on fer2013/train, choose
// everything on fer2013/val, checkpoint every epoch and resume when started again with the same arguments.
using System.CommandLine;
using System.Diagnostics;
using System.Formats.Tar;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using FacialExpression;

var dataOption = new Option<DirectoryInfo?>("--data") { Description = "Folder holding fer2013/train and fer2013/val (default: unpack ../shared/datasets/fer2013-train-val.tar.gz next to the output)." };
var archiveOption = new Option<FileInfo>("--archive") { Description = "The dataset archive to unpack when --data is not given.", DefaultValueFactory = _ => new FileInfo("../shared/datasets/fer2013-train-val.tar.gz") };
var outOption = new Option<DirectoryInfo>("--out") { Description = "Output folder: model, checkpoints, learning curve, reports.", DefaultValueFactory = _ => new DirectoryInfo("runs/fer2013") };
var epochsOption = new Option<int>("--epochs") { Description = "Epochs (one warm-up epoch, then a single cosine decay over the rest).", DefaultValueFactory = _ => 40 };
var archOption = new Option<ExpressionArchitecture>("--architecture") { Description = "Network family.", DefaultValueFactory = _ => ExpressionArchitecture.Standard };
var lrOption = new Option<double>("--lr") { Description = "Peak learning rate.", DefaultValueFactory = _ => 0.05 };
var batchOption = new Option<int>("--batch") { Description = "Batch size.", DefaultValueFactory = _ => 64 };
var seedOption = new Option<int>("--seed") { Description = "Seed.", DefaultValueFactory = _ => 1 };
var precisionOption = new Option<TrainingPrecision>("--precision") { Description = "Arithmetic of the training passes.", DefaultValueFactory = _ => TrainingPrecision.Float32 };
var defaults = new ExpressionTrainingOptions();
var threadsOption = new Option<int?>("--threads") { Description = "Threads for the tensor work, per network (default: all cores, divided among the networks). The model card's recipe trains two ensemble members side by side, each with --threads 1 on its own core." };
var networksOption = new Option<int>("--networks") { Description = "Networks trained at once in this process, one thread each; the model is their ensemble.", DefaultValueFactory = _ => defaults.Networks };
var mutualOption = new Option<double>("--mutual-learning") { Description = "Weight of mutual learning between the networks (needs --networks 2 or more; 0 = off).", DefaultValueFactory = _ => defaults.MutualLearning };
var mixupOption = new Option<double>("--mixup") { Description = "Mixup α (0 = off).", DefaultValueFactory = _ => defaults.MixupAlpha };
var averagingOption = new Option<double>("--weight-averaging") { Description = "Decay of the weights' moving average, e.g. 0.999 (0 = off).", DefaultValueFactory = _ => defaults.WeightAveragingDecay };
var erasingOption = new Option<double>("--erasing") { Description = "Random-erasing probability.", DefaultValueFactory = _ => defaults.RandomErasingProbability };
var rotationOption = new Option<double>("--rotation") { Description = "Maximum random rotation in degrees.", DefaultValueFactory = _ => defaults.MaxRotationDegrees };
var scaleOption = new Option<double>("--scale") { Description = "Maximum random relative scale change.", DefaultValueFactory = _ => defaults.MaxScaleChange };
var evaluateOption = new Option<FileInfo[]>("--evaluate")
{
    Description = "Skip training: evaluate this model file on val (with and without test-time augmentation). Reports go to OUT/evaluation (val-report.md, val-report-*.txt). With several files, evaluate their ensemble and save it as OUT/evaluation/fer2013-ensemble.fexm. A model of several networks is also evaluated network by network (OUT/evaluation/val-networks.md).",
    AllowMultipleArgumentsPerToken = true,
};
var baselineOption = new Option<FileInfo?>("--baseline")
{
    Description = "With --evaluate: also compare the evaluated model image by image with this model file on val (without and with flip test-time augmentation) and print exact McNemar tests, e.g. against src/FacialExpression/Pretrained/fer2013.fexm.",
};
var ttaOption = new Option<TestTimeAugmentation?>("--tta")
{
    Description = "Test-time augmentation saved as the default of the model this run writes (the trained model, or the ensemble of several --evaluate files; default: None, or the members' common setting); the packaged model uses Flip. Evaluation reports all three either way.",
};
var root = new RootCommand("Train and evaluate the FER2013 expression model.") { dataOption, archiveOption, outOption, epochsOption, archOption, lrOption, batchOption, seedOption, precisionOption, threadsOption, networksOption, mutualOption, mixupOption, averagingOption, erasingOption, rotationOption, scaleOption, evaluateOption, baselineOption, ttaOption };
// The work runs on its own task so that Ctrl+C reaches it as a cancelled token (System.CommandLine registers its
// signal handler only once the action has returned a task).
string? savedModel = null; // set once the trained model is saved, for the Ctrl+C message
bool unpacked = false; // false while the dataset archive may still be unpacking, for the Ctrl+C message
root.SetAction((parse, ct) => Task.Run(() =>
{
    var outDir = parse.GetValue(outOption)!;
    try
    {
        return Run(parse, outDir, ct);
    }
    catch (Exception e) when (e is FacialExpressionException or ArgumentException or IOException or UnauthorizedAccessException or InvalidOperationException or InvalidDataException) // a checkpoint folder that cannot be resumed or is in use; an archive that is not a .tar.gz
    {
        // An option out of range names the library's property; say which flag the user typed for it.
        var flag = e is ArgumentException { ParamName: { } name } ? FlagOf(name) : null;
        Console.Error.WriteLine(flag is null ? e.Message : $"{flag}: {e.Message}");
        return 1;
    }
    catch (OperationCanceledException) when (ct.IsCancellationRequested)
    {
        Console.Error.WriteLine(
            !unpacked ? "Stopped while unpacking the dataset; nothing was kept. Run the command again to unpack it."
            : savedModel is not null ? $"Stopped while evaluating; the trained model is saved as {savedModel}, but the val reports in {outDir.FullName} are incomplete or from an earlier run."
            : parse.GetValue(evaluateOption) is { Length: > 0 } ? $"Stopped; the val reports in {Path.Combine(outDir.FullName, "evaluation")} are incomplete or from an earlier run."
            : $"Stopped. Every completed epoch is checkpointed in {Path.Combine(outDir.FullName, "checkpoints")}; run the same command again to resume.");
        return 130;
    }
}));
return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(30) });

int Run(ParseResult parse, DirectoryInfo outDir, CancellationToken ct)
{
    if (parse.GetValue(baselineOption) is not null && parse.GetValue(evaluateOption) is not { Length: > 0 })
    {
        Console.Error.WriteLine("--baseline compares with the model given to --evaluate; add --evaluate MODEL.fexm.");
        return 2;
    }
    if (parse.GetValue(ttaOption) is not null && parse.GetValue(evaluateOption) is { Length: 1 })
    {
        Console.Error.WriteLine("--tta sets the default of a model this run writes, but evaluating one file writes none; give several files to --evaluate (their ensemble is saved), or train.");
        return 2;
    }
    if (parse.GetValue(ttaOption) is { } requested && !Enum.IsDefined(requested))
    {
        Console.Error.WriteLine($"--tta {requested} is not one of {string.Join(", ", Enum.GetNames<TestTimeAugmentation>())}.");
        return 2;
    }
    var evaluating = parse.GetValue(evaluateOption) is { Length: > 0 };
    if (parse.GetValue(evaluateOption)?.Concat([parse.GetValue(baselineOption)]).OfType<FileInfo>().FirstOrDefault(f => !f.Exists) is { } missing)
    {
        Console.Error.WriteLine($"Model file '{missing.FullName}' does not exist.");
        return 2;
    }
    outDir.Create();
    var (train, val) = Splits(parse.GetValue(dataOption)?.FullName ?? Unpack(parse.GetValue(archiveOption)!, outDir, ct), needTrain: !evaluating);
    unpacked = true;
    if (evaluating)
    {
        var existing = parse.GetValue(evaluateOption)!;
        // Reports of an evaluation go to OUT/evaluation, so they never replace the reports of the model trained in OUT.
        outDir = outDir.CreateSubdirectory("evaluation");
        var members = new List<ExpressionModel>();
        try
        {
            foreach (var file in existing) members.Add(ExpressionModel.Load(file.FullName)); // a bad file disposes those already loaded
            var baseline = parse.GetValue(baselineOption);
            if (members.Count == 1)
            {
                EvaluateAll(members[0], existing[0].FullName, val, outDir, ct);
                EvaluateNetworks(members[0], val, outDir, ct);
                if (baseline is not null) CompareWith(members[0], baseline, val, ct);
                return 0;
            }
            using var ensemble = ExpressionModel.Ensemble(members);
            if (parse.GetValue(ttaOption) is { } ensembleTta) ensemble.TestTimeAugmentation = ensembleTta;
            var ensemblePath = Path.Combine(outDir.FullName, "fer2013-ensemble.fexm");
            ensemble.Save(ensemblePath);
            Console.WriteLine($"Saved the {ensemble.NetworkCount}-network ensemble of {string.Join(", ", existing.Select(f => f.FullName))} as {ensemblePath} ({new FileInfo(ensemblePath).Length / 1024} KiB, test-time augmentation {ensemble.TestTimeAugmentation})");
            EvaluateAll(ensemble, $"{ensemblePath}, the ensemble of {string.Join(", ", existing.Select(f => f.FullName))}", val, outDir, ct);
            EvaluateNetworks(ensemble, val, outDir, ct);
            if (baseline is not null) CompareWith(ensemble, baseline, val, ct);
            return 0;
        }
        finally
        {
            foreach (var m in members) m.Dispose();
        }
    }
    var options = new ExpressionTrainingOptions
    {
        Epochs = parse.GetValue(epochsOption),
        Architecture = parse.GetValue(archOption),
        LearningRate = parse.GetValue(lrOption),
        BatchSize = parse.GetValue(batchOption),
        Seed = parse.GetValue(seedOption),
        Precision = parse.GetValue(precisionOption),
        Threads = parse.GetValue(threadsOption),
        Networks = parse.GetValue(networksOption),
        MutualLearning = parse.GetValue(mutualOption),
        MixupAlpha = parse.GetValue(mixupOption),
        WeightAveragingDecay = parse.GetValue(averagingOption),
        RandomErasingProbability = parse.GetValue(erasingOption),
        MaxRotationDegrees = parse.GetValue(rotationOption),
        MaxScaleChange = parse.GetValue(scaleOption),
        ValidationFolder = val,
        EarlyStoppingPatience = 0,
        CheckpointFolder = Path.Combine(outDir.FullName, "checkpoints"),
    };
    Console.WriteLine($"Options: {options}");
    var clock = Stopwatch.StartNew();
    var epochs = new List<TrainingProgress>();
    using var model = ExpressionModel.Train(train, options, new SyncProgress(p =>
    {
        Console.WriteLine(p);
        if (p.Epoch > 0) epochs.Add(p);
    }), ct);
    Console.WriteLine($"Training wall time (this process): {clock.Elapsed}; epochs run here: {epochs.Count}, " +
        $"median {epochs.Select(e => e.ImagesPerSecond).Order().ElementAtOrDefault(epochs.Count / 2):F0} training images/s, " +
        $"peak working set {Environment.WorkingSet / 1048576} MiB now, {Process.GetCurrentProcess().PeakWorkingSet64 / 1048576} MiB peak");
    if (epochs.Count > 0)
    {
        var total = epochs[^1].Elapsed;
        Console.WriteLine($"Training wall time of all {epochs[^1].Epoch} epochs, summed over every resumed segment: {(int)total.TotalHours}:{total:mm\\:ss}");
    }
    var modelPath = Path.Combine(outDir.FullName, "fer2013.fexm");
    if (parse.GetValue(ttaOption) is { } tta) model.TestTimeAugmentation = tta;
    model.Save(modelPath);
    savedModel = modelPath;
    Console.WriteLine($"Saved {modelPath} ({new FileInfo(modelPath).Length / 1024} KiB, test-time augmentation {model.TestTimeAugmentation})");
    File.Copy(Path.Combine(options.CheckpointFolder, "learning-curve.csv"), Path.Combine(outDir.FullName, "learning-curve.csv"), overwrite: true);
    EvaluateAll(model, modelPath, val, outDir, ct);
    EvaluateNetworks(model, val, outDir, ct);
    return 0;
}

// The command-line flag that sets an ExpressionTrainingOptions property, for error messages.
static string? FlagOf(string property) => property switch
{
    nameof(ExpressionTrainingOptions.Epochs) => "--epochs",
    nameof(ExpressionTrainingOptions.Architecture) => "--architecture",
    nameof(ExpressionTrainingOptions.LearningRate) => "--lr",
    nameof(ExpressionTrainingOptions.BatchSize) => "--batch",
    nameof(ExpressionTrainingOptions.Precision) => "--precision",
    nameof(ExpressionTrainingOptions.Threads) => "--threads",
    nameof(ExpressionTrainingOptions.Networks) => "--networks",
    nameof(ExpressionTrainingOptions.MutualLearning) => "--mutual-learning",
    nameof(ExpressionTrainingOptions.MixupAlpha) => "--mixup",
    nameof(ExpressionTrainingOptions.WeightAveragingDecay) => "--weight-averaging",
    nameof(ExpressionTrainingOptions.RandomErasingProbability) => "--erasing",
    nameof(ExpressionTrainingOptions.MaxRotationDegrees) => "--rotation",
    nameof(ExpressionTrainingOptions.MaxScaleChange) => "--scale",
    _ => null,
};

// The unpacked archive holds fer2013/train and fer2013/val; accept that folder, or the fer2013 folder itself.
// Evaluating needs only val.
static (string Train, string Val) Splits(string data, bool needTrain)
{
    foreach (var root in new[] { Path.Combine(data, "fer2013"), data })
    {
        if ((!needTrain || Directory.Exists(Path.Combine(root, "train"))) && Directory.Exists(Path.Combine(root, "val")))
            return (Path.Combine(root, "train"), Path.Combine(root, "val"));
    }
    throw new DirectoryNotFoundException($"No fer2013/{(needTrain ? "train and fer2013/" : "")}val under '{data}'. Pass --data the folder the dataset archive " +
        "was unpacked into (or its fer2013 folder), or leave --data out to unpack --archive.");
}

static void EvaluateAll(ExpressionModel model, string modelDescription, string val, DirectoryInfo outDir, CancellationToken ct)
{
    var inv = CultureInfo.InvariantCulture;
    var md = new StringBuilder().AppendLine($"Model: {modelDescription}").AppendLine();
    EvaluationReport? plain = null;
    foreach (var tta in Enum.GetValues<TestTimeAugmentation>())
    {
        model.TestTimeAugmentation = tta;
        var sw = Stopwatch.StartNew();
        var report = model.Evaluate(val, ct);
        var seconds = sw.Elapsed.TotalSeconds;
        Console.WriteLine($"== val, test-time augmentation {tta} ({seconds:F1} s for {report.Count} images)\n{report}");
        WriteAtomically(Path.Combine(outDir.FullName, $"val-report-{tta}.txt"), $"Model: {modelDescription}\n\n{report}");
        if (plain is null)
        {
            plain = report;
            md.AppendLine(inv, $"| split | test-time augmentation | accuracy | macro-F1 | log-loss | seconds for {report.Count} images |");
            md.AppendLine("|---|---|---|---|---|---|");
        }
        md.AppendLine(inv, $"| val | {tta} | {report.Accuracy:P2} | {report.MacroF1:P2} | {report.LogLoss:F3} | {seconds:F1} |");
    }
    // The model card's tables, ready to paste: the rows above, then per class and the confusion matrix without TTA.
    md.AppendLine().AppendLine("| label | precision | recall | F1 | support |").AppendLine("|---|---|---|---|---|");
    foreach (var c in plain!.PerClass)
        md.AppendLine(inv, $"| {c.Label} | {c.Precision:P1} | {c.Recall:P1} | {c.F1:P1} | {c.Support} |");
    md.AppendLine().Append("| |").AppendJoin("", plain.Labels.Select(l => $" {l} |")).AppendLine()
      .Append("|---|").AppendJoin("", plain.Labels.Select(_ => "---|")).AppendLine();
    var confusion = plain.ConfusionMatrix;
    for (int actual = 0; actual < plain.Labels.Count; actual++)
        md.Append(inv, $"| {plain.Labels[actual]} |").AppendJoin("", Enumerable.Range(0, plain.Labels.Count).Select(p => $" {confusion[actual, p]} |")).AppendLine();
    var mdPath = Path.Combine(outDir.FullName, "val-report.md");
    WriteAtomically(mdPath, md.ToString());
    Console.WriteLine($"Wrote the model card's tables to {mdPath}");
}

// For a model of several networks: each network alone, without and with flip test-time augmentation, to show what
// ensembling adds over its best member.
static void EvaluateNetworks(ExpressionModel model, string val, DirectoryInfo outDir, CancellationToken ct)
{
    if (model.NetworkCount < 2) return;
    var inv = CultureInfo.InvariantCulture;
    var md = new StringBuilder("| network | test-time augmentation | accuracy | macro-F1 | log-loss |\n|---|---|---|---|---|\n");
    for (int i = 0; i < model.NetworkCount; i++)
    {
        using var network = model.Network(i);
        foreach (var tta in new[] { TestTimeAugmentation.None, TestTimeAugmentation.Flip })
        {
            network.TestTimeAugmentation = tta;
            var report = network.Evaluate(val, ct);
            Console.WriteLine(string.Create(inv, $"== val, network {i} of {model.NetworkCount} alone, test-time augmentation {tta}: accuracy {report.Accuracy:P2}, macro-F1 {report.MacroF1:P2}"));
            md.AppendLine(inv, $"| {i} | {tta} | {report.Accuracy:P2} | {report.MacroF1:P2} | {report.LogLoss:F3} |");
        }
    }
    var path = Path.Combine(outDir.FullName, "val-networks.md");
    WriteAtomically(path, md.ToString());
    Console.WriteLine($"Wrote each network's val accuracy to {path}");
}

// Per image, without and with flip test-time augmentation: how many images only one of the two models classifies
// correctly, and the exact (binomial) McNemar test of whether the two are equally accurate — accuracies on one split
// differ by chance too.
static void CompareWith(ExpressionModel model, FileInfo baselineFile, string val, CancellationToken ct)
{
    using var baseline = ExpressionModel.Load(baselineFile.FullName);
    // The files Evaluate reads: nested ones too, but nothing hidden; labels compared in Unicode form C as the models store them.
    var walk = new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.Hidden | FileAttributes.System };
    var files = Directory.GetDirectories(val).Where(d => !Path.GetFileName(d).StartsWith('.')).Order(StringComparer.Ordinal)
        .SelectMany(d => Directory.GetFiles(d, "*", walk).Where(f => !Path.GetRelativePath(d, f).Split(Path.DirectorySeparatorChar).Any(p => p.StartsWith('.')))
            .Order(StringComparer.Ordinal).Select(f => (Path: f, Label: Path.GetFileName(d).Normalize(NormalizationForm.FormC)))).ToList();
    foreach (var tta in new[] { TestTimeAugmentation.None, TestTimeAugmentation.Flip })
    {
        model.TestTimeAugmentation = baseline.TestTimeAugmentation = tta;
        var ours = PredictReadable(model, files, ct);
        var theirs = baseline.PredictBatch(files.Select(f => f.Path), ct);
        int onlyOurs = 0, onlyTheirs = 0;
        for (int i = 0; i < files.Count; i++)
        {
            bool a = ours[i].Label == files[i].Label, b = theirs[i].Label == files[i].Label;
            if (a && !b) onlyOurs++;
            if (b && !a) onlyTheirs++;
        }
        int n = onlyOurs + onlyTheirs, k = Math.Min(onlyOurs, onlyTheirs);
        double tail = 0; // P(X <= k) for X ~ Binomial(n, 1/2), summed in log space
        for (int j = 0; j <= k; j++) tail += Math.Exp(LogChoose(n, j) - n * Math.Log(2));
        Console.WriteLine($"== val, image by image against {baselineFile.FullName} (test-time augmentation {tta}): {onlyOurs} images only " +
            $"this model classifies correctly, {onlyTheirs} only the baseline; exact McNemar p = {Math.Min(1, 2 * tail).ToString("F3", CultureInfo.InvariantCulture)}");
    }

    // Like Evaluate, leaves out files that are not readable images (PredictBatch names the first it meets).
    static IReadOnlyList<ExpressionPrediction> PredictReadable(ExpressionModel model, List<(string Path, string Label)> files, CancellationToken ct)
    {
        while (true)
        {
            try { return model.PredictBatch(files.Select(f => f.Path), ct); }
            catch (DatasetException e) when (files.FindIndex(f => Path.GetFullPath(f.Path) == e.Path) is var bad and >= 0)
            {
                Console.WriteLine($"Leaving out {e.Path}: {e.Message}");
                files.RemoveAt(bad);
            }
        }
    }

    static double LogChoose(int n, int k)
    {
        double sum = 0;
        for (int i = 1; i <= k; i++) sum += Math.Log(n - k + i) - Math.Log(i);
        return sum;
    }
}

static void WriteAtomically(string path, string text)
{
    var temp = path + ".partial";
    File.WriteAllText(temp, text);
    File.Move(temp, path, overwrite: true);
}

static string Unpack(FileInfo archive, DirectoryInfo outDir, CancellationToken ct)
{
    var dest = Path.Combine(outDir.FullName, "data");
    if (Directory.Exists(Path.Combine(dest, "fer2013", "val")) || Directory.Exists(Path.Combine(dest, "val"))) return dest; // the layouts Splits accepts
    if (Directory.Exists(dest))
        throw new IOException($"'{dest}' exists but holds no fer2013/val (an archive unpacked there earlier was not the FER2013 one?). Delete it and run again, or pass --data.");
    if (!archive.Exists) throw new FileNotFoundException($"Dataset archive '{archive.FullName}' not found; pass --data or --archive.");
    Console.WriteLine($"Unpacking {archive.FullName} to {dest}");
    var temp = dest + ".partial";
    if (Directory.Exists(temp)) Directory.Delete(temp, true);
    Directory.CreateDirectory(temp);
    try
    {
        using var gz = new GZipStream(archive.OpenRead(), CompressionMode.Decompress);
        TarFile.ExtractToDirectoryAsync(gz, temp, overwriteFiles: true, ct).GetAwaiter().GetResult();
    }
    catch (Exception e)
    {
        try { Directory.Delete(temp, true); } catch (IOException) { } // the original error matters more
        if (e is InvalidDataException or FormatException)
            throw new InvalidDataException($"'{archive.FullName}' is not a .tar.gz archive ({e.Message}). Pass the FER2013 archive to --archive, or unpack your copy and pass --data.", e);
        throw;
    }
    if (!Directory.Exists(Path.Combine(temp, "fer2013", "val")) && !Directory.Exists(Path.Combine(temp, "val")))
    {
        Directory.Delete(temp, true);
        throw new InvalidDataException($"'{archive.FullName}' holds no fer2013/val folder, so it is not the FER2013 archive this sample expects. Pass that archive to --archive, or pass --data a folder holding fer2013/val (and fer2013/train to train).");
    }
    Directory.Move(temp, dest);
    return dest;
}

/// <summary>Reports on the training thread, so lines appear in order.</summary>
sealed class SyncProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
{
    public void Report(TrainingProgress value) => report(value);
}

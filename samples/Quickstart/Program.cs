// Quickstart: train an expression model, evaluate it, and predict a few images.
//   dotnet run --project samples/Quickstart                      (generated data, about a minute)
//   dotnet run --project samples/Quickstart -- --train DIR --test DIR [--epochs N] [--model out.fexm]
using System.CommandLine;
using FacialExpression;

var trainOption = new Option<DirectoryInfo?>("--train") { Description = "Training folder: one subfolder of images per expression. Default: generate a synthetic dataset." };
var testOption = new Option<DirectoryInfo?>("--test") { Description = "Test folder with the same subfolders. Default: generate one." };
var epochsOption = new Option<int?>("--epochs") { Description = "Training epochs (default 8 on generated data, 30 otherwise)." };
var modelOption = new Option<FileInfo>("--model") { Description = "Where to save the trained model.", DefaultValueFactory = _ => new FileInfo("quickstart-model.fexm") };
var root = new RootCommand("Train, evaluate and use a facial-expression model.") { trainOption, testOption, epochsOption, modelOption };
// The work runs on its own task so that Ctrl+C reaches it as a cancelled token (System.CommandLine registers its
// signal handler only once the action has returned a task).
string? savedModel = null;
root.SetAction((parse, ct) => Task.Run(() =>
{
    try
    {
        return Run(parse, ct);
    }
    catch (Exception e) when (e is FacialExpressionException or ArgumentException or IOException or UnauthorizedAccessException)
    {
        Console.Error.WriteLine(e.Message); // e.g. a --train folder without one subfolder per expression
        return 1;
    }
    catch (OperationCanceledException) when (ct.IsCancellationRequested)
    {
        Console.Error.WriteLine(savedModel is null ? "Cancelled; no model was saved." : $"Cancelled; the model was already saved to {savedModel}.");
        return 130;
    }
}));
return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(30) });

int Run(ParseResult parse, CancellationToken ct)
{
    var train = parse.GetValue(trainOption)?.FullName;
    var test = parse.GetValue(testOption)?.FullName;
    bool synthetic = train is null;
    if (synthetic != (test is null)) { Console.Error.WriteLine("Give both --train and --test, or neither."); return 2; }
    var modelPath = parse.GetValue(modelOption)!.FullName;
    // Checked before training, which can take hours: a mistyped test folder or model path would only fail after it.
    if (test is not null && !Directory.Exists(test) && !File.Exists(test)) { Console.Error.WriteLine($"Test folder '{test}' does not exist."); return 2; }
    if (Directory.Exists(modelPath)) { Console.Error.WriteLine($"--model '{modelPath}' is a folder; give a file name such as model.fexm."); return 2; }
    if (!Directory.Exists(Path.GetDirectoryName(modelPath))) { Console.Error.WriteLine($"The folder of --model '{modelPath}' does not exist."); return 2; }
    if (synthetic)
    {
        var work = Path.Combine(Path.GetTempPath(), $"facialexpression-quickstart-{Environment.UserName}");
        Console.WriteLine($"No dataset given: generating drawn faces in {work}");
        train = SyntheticFaces.Generate(Path.Combine(work, "train"), imagesPerClass: 300, seed: 1);
        test = SyntheticFaces.Generate(Path.Combine(work, "test"), imagesPerClass: 100, seed: 2);
    }

    // snippet:train
    var options = new ExpressionTrainingOptions
    {
        Epochs = parse.GetValue(epochsOption) ?? (synthetic ? 8 : 30),
        Architecture = synthetic ? ExpressionArchitecture.Compact : ExpressionArchitecture.Standard,
    };
    using var model = ExpressionModel.Train(train!, options, new ConsoleProgress(), ct);
    model.Save(modelPath);
    // endsnippet
    savedModel = modelPath;
    Console.WriteLine($"Model saved to {modelPath}");

    // snippet:evaluate
    EvaluationReport report = model.Evaluate(test!, ct);
    Console.WriteLine(report);
    // endsnippet

    // snippet:predict
    string[] samples = FirstImageOfEachClass(test!);
    foreach (var (path, prediction) in samples.Zip(model.PredictBatch(samples, ct)))
        Console.WriteLine($"{Path.GetFileName(Path.GetDirectoryName(path))}/{Path.GetFileName(path)} -> {prediction}");
    // endsnippet
    return 0;
}

// The first image file (by extension) of each class folder, skipping hidden files and folders as Evaluate does (none for a FER2013 CSV).
static string[] FirstImageOfEachClass(string testFolder)
{
    string[] imageTypes = [".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".ico"];
    var visible = new EnumerationOptions { AttributesToSkip = FileAttributes.Hidden | FileAttributes.System };
    if (!Directory.Exists(testFolder)) return [];
    return Directory.GetDirectories(testFolder, "*", visible).Order()
        .Where(d => !Path.GetFileName(d).StartsWith('.'))
        .Select(d => Directory.EnumerateFiles(d, "*", visible).Order().FirstOrDefault(f =>
            !Path.GetFileName(f).StartsWith('.') && imageTypes.Contains(Path.GetExtension(f).ToLowerInvariant())))
        .OfType<string>().ToArray();
}

/// <summary>
/// Prints each progress report on the training thread as it comes. (<c>new Progress&lt;T&gt;(Console.WriteLine)</c> would
/// post the reports to the thread pool in a console app, so lines could print out of order.)
/// </summary>
sealed class ConsoleProgress : IProgress<TrainingProgress>
{
    public void Report(TrainingProgress value) => Console.WriteLine(value);
}

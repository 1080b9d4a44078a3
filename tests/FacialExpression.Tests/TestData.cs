namespace FacialExpression.Tests;

/// <summary>Generated datasets and one trained model, shared by every test in the run.</summary>
internal static class TestData
{
    private static readonly Lazy<string> LazyRoot = new(() =>
    {
        var root = Path.Combine(Path.GetTempPath(), $"fe-tests-{Environment.ProcessId}");
        SyntheticFaces.Generate(Path.Combine(root, "train"), imagesPerClass: 240, seed: 11);
        SyntheticFaces.Generate(Path.Combine(root, "test"), imagesPerClass: 60, seed: 12);
        return root;
    });

    /// <summary>Options for quick runs on the generated data.</summary>
    public static ExpressionTrainingOptions FastOptions { get; } = new()
    {
        Architecture = ExpressionArchitecture.Compact,
        Epochs = 2,
        BatchSize = 32,
    };

    private static readonly Lazy<ExpressionModel> LazyModel = new(() => ExpressionModel.Train(TrainFolder, FastOptions with { Epochs = 8 }));

    public static string Root => LazyRoot.Value;
    public static string TrainFolder => Path.Combine(Root, "train");
    public static string TestFolder => Path.Combine(Root, "test");

    /// <summary>A Compact model trained for 8 epochs on <see cref="TrainFolder"/>.</summary>
    public static ExpressionModel Model => LazyModel.Value;

    public static string[] SomeTestImages(int perClass) =>
        Directory.GetDirectories(TestFolder).OrderBy(d => d, StringComparer.Ordinal)
            .SelectMany(d => Directory.GetFiles(d).OrderBy(f => f, StringComparer.Ordinal).Take(perClass)).ToArray();

    /// <summary>A fresh empty folder under the test root.</summary>
    public static string NewFolder(string name)
    {
        var dir = Path.Combine(Path.GetTempPath(), $"fe-tests-{Environment.ProcessId}-scratch", $"{name}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>A tiny dataset (a few images per class) for tests that only need training to run.</summary>
    public static string TinyDataset(int perClass = 12, int seed = 5)
    {
        var dir = NewFolder("tiny");
        SyntheticFaces.Generate(dir, perClass, seed);
        return dir;
    }

    public static void Cleanup()
    {
        if (LazyModel.IsValueCreated) LazyModel.Value.Dispose();
        foreach (var dir in new[] { Path.Combine(Path.GetTempPath(), $"fe-tests-{Environment.ProcessId}"), Path.Combine(Path.GetTempPath(), $"fe-tests-{Environment.ProcessId}-scratch") })
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
    }
}

[SetUpFixture]
public sealed class TestRun
{
    [OneTimeTearDown]
    public void TearDown() => TestData.Cleanup();
}

namespace FacialExpression.Tests.Training;

public sealed class LearningTests
{
    [Test]
    public void Train_OnGeneratedFaces_ReachesNinetyPercentOnAHeldOutFolder()
    {
        var report = TestData.Model.Evaluate(TestData.TestFolder);
        TestContext.Out.WriteLine(report);
        Assert.That(report.Accuracy, Is.GreaterThanOrEqualTo(0.90));
        Assert.That(report.Count, Is.EqualTo(300));
        Assert.That(report.Labels, Is.EqualTo(SyntheticFaces.Labels));
    }

    [Test]
    public void Train_LabelsAreTheClassFoldersInOrdinalOrder()
    {
        Assert.That(TestData.Model.Labels, Is.EqualTo(new[] { "angry", "happy", "neutral", "sad", "surprise" }));
    }

    [Test]
    public void Train_ReportsProgressEveryEpochWithLossAccuracyAndLearningRate()
    {
        var reports = new List<TrainingProgress>();
        using var model = ExpressionModel.Train(TestData.TinyDataset(), TestData.FastOptions with { Epochs = 3 }, new SyncProgress(reports.Add));
        var epochs = reports.Where(r => r.Epoch > 0).ToList();
        Assert.That(epochs.Select(e => e.Epoch), Is.EqualTo(new[] { 1, 2, 3 }));
        Assert.That(epochs, Has.All.Matches<TrainingProgress>(e => e!.TotalEpochs == 3 && e.TrainLoss > 0 && e.LearningRate > 0 && e.ValidationAccuracy is >= 0 and <= 1 && e.ImagesPerSecond > 0));
        Assert.That(epochs.Select(e => e.Elapsed), Is.Ordered);
        Assert.That(reports.First().Message, Does.Contain("Training on"));
    }

    [Test]
    [NonParallelizable]
    public void Train_SameSeedTwice_GivesIdenticalModels()
    {
        var data = TestData.TinyDataset(perClass: 16);
        var images = Directory.GetFiles(data, "*.png", SearchOption.AllDirectories).Take(10).ToArray();
        using var a = ExpressionModel.Train(data, TestData.FastOptions);
        using var b = ExpressionModel.Train(data, TestData.FastOptions);
        using var c = ExpressionModel.Train(data, TestData.FastOptions with { Seed = 99 });
        var pa = a.PredictBatch(images).Select(p => p.Scores.Values.ToArray()).ToArray();
        var pb = b.PredictBatch(images).Select(p => p.Scores.Values.ToArray()).ToArray();
        var pc = c.PredictBatch(images).Select(p => p.Scores.Values.ToArray()).ToArray();
        Assert.That(pb, Is.EqualTo(pa));
        Assert.That(pc, Is.Not.EqualTo(pa));
    }

    [Test]
    public void Train_AndResume_LeaveNoLiveTensorsOnceTheModelsAreDisposed()
    {
        // Every path that clones or loads weights: bfloat16 copy, weight average, best-epoch copies, checkpoints, resume.
        var data = TestData.TinyDataset(perClass: 10, seed: 12);
        var options = TestData.FastOptions with
        {
            Epochs = 3, Precision = TrainingPrecision.BFloat16, WeightAveragingDecay = 0.9, CheckpointFolder = TestData.NewFolder("leak"),
        };
        using (ExpressionModel.Train(data, options)) { } // warm-up: libtorch and TorchSharp set up their own once
        long before = TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        using (ExpressionModel.Train(data, options with { CheckpointFolder = TestData.NewFolder("leak") })) { }
        using (ExpressionModel.Train(data, options with { Epochs = 4 })) { } // resumes the warm-up's folder after epoch 3
        Assert.That(TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount, Is.EqualTo(before));
    }

    [Test]
    public void Train_WithValidationFolder_UsesItInsteadOfASplit()
    {
        var reports = new List<TrainingProgress>();
        var train = TestData.TinyDataset(perClass: 10, seed: 1);
        var val = TestData.TinyDataset(perClass: 7, seed: 2);
        using var model = ExpressionModel.Train(train, TestData.FastOptions with { Epochs = 1, ValidationFolder = val }, new SyncProgress(reports.Add));
        Assert.That(reports.First().Message, Does.Contain("50 images").And.Contain("validating on 35 images"));
    }

    [Test]
    public void Train_WithAdamWAndOneCycle_Learns()
    {
        var options = TestData.FastOptions with { Epochs = 6, Optimizer = ExpressionOptimizer.AdamW, LearningRate = 0.003, Schedule = LearningRateSchedule.OneCycle };
        using var model = ExpressionModel.Train(TestData.TrainFolder, options);
        Assert.That(model.Evaluate(TestData.TestFolder).Accuracy, Is.GreaterThan(0.6));
    }

    [Test]
    public void Train_WithMixup_Learns()
    {
        using var model = ExpressionModel.Train(TestData.TrainFolder, TestData.FastOptions with { Epochs = 8, MixupAlpha = 0.4 });
        Assert.That(model.Evaluate(TestData.TestFolder).Accuracy, Is.GreaterThanOrEqualTo(0.90));
    }

    [TestCase(0.2)]
    [TestCase(1.0)]
    [TestCase(4.0)]
    public void Mixup_BlendFactor_FollowsBetaAlphaAlpha(double alpha)
    {
        // Beta(α, α) has mean 1/2 and variance 1 / (4(2α + 1)); mixup's behaviour depends on getting both right.
        var random = new Random(7);
        var draws = Enumerable.Range(0, 20_000).Select(_ => FacialExpression.Training.Mixup.SampleBeta(random, alpha)).ToArray();
        double mean = draws.Average(), variance = draws.Select(d => (d - mean) * (d - mean)).Average();
        Assert.That(draws, Has.All.InRange(0.0, 1.0));
        Assert.That(mean, Is.EqualTo(0.5).Within(0.01));
        Assert.That(variance, Is.EqualTo(1 / (4 * (2 * alpha + 1))).Within(5).Percent);
    }

    [Test]
    public void Train_WithWeightAveraging_ChecksTheRawWeightsOnTheEpochEarlyStoppingEndsOn()
    {
        var reports = new List<TrainingProgress>();
        // Validation reaches its best within a few epochs on the synthetic faces, and patience 1 then stops the run.
        var options = TestData.FastOptions with { Epochs = 40, EarlyStoppingPatience = 1, WeightAveragingDecay = 0.9, ValidationFolder = TestData.TestFolder, Threads = 1 };
        using var model = ExpressionModel.Train(TestData.TrainFolder, options, new SyncProgress(reports.Add));
        var epochs = reports.Where(r => r.Epoch > 0).ToList();
        Assert.That(reports.Any(r => r.Message?.StartsWith("Early stopping", StringComparison.Ordinal) == true), "the run was ended by early stopping");
        Assert.That(epochs[^1].Epoch, Is.LessThan(40));
        Assert.That(epochs[^1].RawValidationAccuracy, Is.Not.Null, $"the raw weights are checked on the last epoch run ({epochs[^1].Epoch})");
        Assert.That(epochs.Where(e => e.RawValidationAccuracy is not null).Select(e => e.Epoch),
            Is.EqualTo(epochs.Select(e => e.Epoch).Where(e => e == 1 || e % 5 == 0 || e == epochs[^1].Epoch)));
    }

    [Test]
    public void Train_WithWeightAveraging_LearnsAndReturnsTheAveragedWeights()
    {
        var reports = new List<TrainingProgress>();
        // About 300 steps: the warm-up, min(d, (1 + t) / (10 + t)), reaches 0.9 at step 80.
        // One tensor thread, as in the FER2013 runs that were reproduced bit for bit: the comparisons below give the
        // same result in every run instead of passing or failing by chance.
        var options = TestData.FastOptions with { Epochs = 8, WeightAveragingDecay = 0.9, ValidationFolder = TestData.TestFolder, Threads = 1 };
        using var model = ExpressionModel.Train(TestData.TrainFolder, options, new SyncProgress(reports.Add));
        var epochs = reports.Where(r => r.Epoch > 0).ToList();
        foreach (var e in epochs) TestContext.Out.WriteLine($"epoch {e.Epoch}: averaged {e.ValidationAccuracy:P2} (loss {e.ValidationLoss:F4}), raw {e.RawValidationAccuracy:P2} (loss {e.RawValidationLoss:F4})");
        // The raw weights are checked after the first epoch, every fifth and the last (8), not in between.
        Assert.That(epochs.Where(e => e.RawValidationAccuracy is not null).Select(e => e.Epoch), Is.EqualTo(new[] { 1, 5, 8 }));
        Assert.That(epochs.Where(e => e.RawValidationAccuracy is not null), Has.All.Matches<TrainingProgress>(e => e!.RawValidationAccuracy is >= 0 and <= 1));
        Assert.That(epochs.Select(e => e.RawValidationLoss is null), Is.EqualTo(epochs.Select(e => e.RawValidationAccuracy is null)), "raw loss and accuracy come together");
        // Both networks can classify every image alike (accuracy 100 %), so the loss tells them apart.
        Assert.That(epochs.Where(e => e.RawValidationLoss is not null), Has.All.Matches<TrainingProgress>(e => Math.Abs(e!.RawValidationLoss!.Value - e.ValidationLoss!.Value) > 1e-4),
            "the raw weights are a different network from the averaged ones");
        var best = epochs.Last(e => e.IsBestEpoch);
        var report = model.Evaluate(TestData.TestFolder);
        Assert.That(report.Accuracy, Is.GreaterThanOrEqualTo(0.90));
        // Log-loss is continuous, so unlike accuracy it tells the averaged weights from the raw ones.
        Assert.That(report.LogLoss, Is.EqualTo(best.ValidationLoss!.Value).Within(1e-3), "the returned model is the best epoch's averaged weights");
    }

    [Test]
    public void WeightAverage_MovesEachWeightByOneMinusDecayTowardsTheSource()
    {
        using var scope = TorchSharp.torch.NewDisposeScope();
        using var source = new FacialExpression.Modeling.ExpressionNet(ExpressionArchitecture.Compact, 3, 0, 0.5f, 0.25f);
        using var average = new FacialExpression.Training.WeightAverage(source, ExpressionArchitecture.Compact, 3, 0, decay: 0.75);
        var before = average.Net.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        Assert.That(average.DecayAt(0), Is.EqualTo(0.1), "warm-up: the first step keeps only a tenth of the initial weights");
        Assert.That(average.DecayAt(1_000), Is.EqualTo(0.75));
        using (TorchSharp.torch.no_grad())
        {
            foreach (var p in source.parameters()) p.add_(1.0f);
            foreach (var (name, b) in source.named_buffers())
                if (b.is_floating_point()) b.add_(1.0f); else b.fill_(7);
        }
        average.Update(1_000);
        var averaged = average.Net.state_dict();
        foreach (var (name, t) in source.state_dict())
        {
            if (!t.is_floating_point())
            {
                Assert.That(averaged[name].item<long>(), Is.EqualTo(7), $"{name} is a counter: copied, not averaged");
                continue;
            }
            var expected = before[name] * 0.75 + t.detach() * 0.25;
            Assert.That(averaged[name].allclose(expected, rtol: 1e-6, atol: 1e-6), Is.True, name);
        }
        Assert.That(source.named_buffers().Count(b => b.buffer.is_floating_point()), Is.GreaterThan(0), "batch-norm statistics are averaged too");
    }

    [Test]
    public void Train_InBFloat16_LearnsAndSavesFloat32Weights()
    {
        using var model = ExpressionModel.Train(TestData.TrainFolder, TestData.FastOptions with { Epochs = 8, Precision = TrainingPrecision.BFloat16 });
        Assert.That(model.Evaluate(TestData.TestFolder).Accuracy, Is.GreaterThanOrEqualTo(0.90));
        var bf16Path = Path.Combine(TestData.NewFolder("bf16"), "model.fexm");
        model.Save(bf16Path);
        Assert.That(WeightsBytes(bf16Path), Is.EqualTo(WeightsBytes(Prediction.PredictionTests.SaveShared())), "same architecture, so float32 weights have the float32 model's size");
    }

    private static long WeightsBytes(string modelPath)
    {
        using var zip = System.IO.Compression.ZipFile.OpenRead(modelPath);
        return zip.GetEntry("weights.bin")!.Length;
    }

    [Test]
    public void Train_FromFer2013Csv_UsesTheUsageColumnForSplits()
    {
        var csv = Path.Combine(TestData.NewFolder("csv"), "fer2013.csv");
        Fer2013Csv.Write(csv, TestData.TinyDataset(perClass: 10, seed: 3), "Training");
        Fer2013Csv.Append(csv, TestData.TinyDataset(perClass: 4, seed: 4), "PublicTest");
        Fer2013Csv.Append(csv, TestData.TinyDataset(perClass: 3, seed: 6), "PrivateTest");
        var reports = new List<TrainingProgress>();
        using var model = ExpressionModel.Train(csv, TestData.FastOptions with { Epochs = 1 }, new SyncProgress(reports.Add));
        Assert.That(model.Labels, Is.EqualTo(SyntheticFaces.Labels), "the labels its Training rows hold, sorted ordinally as a folder's labels");
        Assert.That(reports.First().Message, Does.Contain("50 images").And.Contain("validating on 20 images"));
        Assert.That(model.Evaluate(csv).Count, Is.EqualTo(15));
    }

    [Test]
    public void Train_FromAnMLNetDataView_Learns()
    {
        var ml = new Microsoft.ML.MLContext(0);
        var rows = Directory.GetFiles(TestData.TrainFolder, "*.png", SearchOption.AllDirectories)
            .Select(p => new PathRow { ImagePath = p, Label = Path.GetFileName(Path.GetDirectoryName(p))! }).ToArray();
        var view = ml.Data.LoadFromEnumerable(rows);
        using var model = ExpressionModel.Train(view, options: TestData.FastOptions with { Epochs = 6 });
        Assert.That(model.Labels, Is.EqualTo(SyntheticFaces.Labels));
        var testRows = Directory.GetFiles(TestData.TestFolder, "*.png", SearchOption.AllDirectories)
            .Select(p => new PathRow { ImagePath = p, Label = Path.GetFileName(Path.GetDirectoryName(p))! }).ToArray();
        Assert.That(model.Evaluate(ml.Data.LoadFromEnumerable(testRows)).Accuracy, Is.GreaterThan(0.6));
    }

    private sealed class PathRow
    {
        public string ImagePath { get; set; } = "";
        public string Label { get; set; } = "";
    }
}

/// <summary>Reports synchronously, so a test sees every report before Train returns.</summary>
internal sealed class SyncProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
{
    public void Report(TrainingProgress value) => report(value);
}

/// <summary>Writes folder-per-label test images in FER2013's CSV format.</summary>
internal static class Fer2013Csv
{
    private static readonly string[] Emotions = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"];

    public static void Write(string path, string folder, string usage)
    {
        File.WriteAllText(path, "emotion,pixels,Usage\n");
        Append(path, folder, usage);
    }

    public static void Append(string path, string folder, string usage)
    {
        var lines = new List<string>();
        foreach (var dir in Directory.GetDirectories(folder))
        {
            int emotion = Array.IndexOf(Emotions, Path.GetFileName(dir));
            foreach (var file in Directory.GetFiles(dir))
            {
                using var bmp = SkiaSharp.SKBitmap.Decode(file);
                var pixels = new List<string>();
                for (int y = 0; y < bmp.Height; y++)
                    for (int x = 0; x < bmp.Width; x++) pixels.Add(bmp.GetPixel(x, y).Red.ToString(System.Globalization.CultureInfo.InvariantCulture));
                lines.Add($"{emotion},{string.Join(' ', pixels)},{usage}");
            }
        }
        File.AppendAllLines(path, lines);
    }
}

namespace FacialExpression.Tests.Training;

public sealed class CancellationTests
{
    [Test]
    public void Cancel_DuringTraining_StopsPromptlyAndWritesNothing()
    {
        var dir = TestData.NewFolder("cancel");
        var checkpoints = Path.Combine(dir, "checkpoints");
        using var cts = new CancellationTokenSource();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        TimeSpan? cancelledAt = null;
        var progress = new SyncProgress(p =>
        {
            if (p.Epoch == 1) { cancelledAt = clock.Elapsed; cts.Cancel(); }
        });
        var options = TestData.FastOptions with { Epochs = 50, CheckpointFolder = checkpoints };
        Assert.Catch<OperationCanceledException>(() => ExpressionModel.Train(TestData.TrainFolder, options, progress, cts.Token));
        Assert.That(cancelledAt, Is.Not.Null);
        // The next epoch would take as long as the first; stopping between batches is far quicker.
        Assert.That(clock.Elapsed - cancelledAt!.Value, Is.LessThan(TimeSpan.FromSeconds(5)));
        Assert.That(Directory.GetFiles(checkpoints).Where(f => f.EndsWith(".tmp")), Is.Empty);
        Assert.That(Directory.GetFiles(dir, "*.fexm", SearchOption.AllDirectories), Is.Empty);
    }

    [TestCase(0.0)]
    [TestCase(0.9)]
    public void Checkpoints_LetAnInterruptedRunResumeToTheSameModel(double weightAveraging)
    {
        var data = TestData.TinyDataset(perClass: 16, seed: 8);
        var images = Directory.GetFiles(data, "*.png", SearchOption.AllDirectories).Take(8).ToArray();
        var options = TestData.FastOptions with { Epochs = 4, WeightAveragingDecay = weightAveraging };
        using var straight = ExpressionModel.Train(data, options);

        var checkpoints = TestData.NewFolder($"resume-{weightAveraging}");
        using (var cts = new CancellationTokenSource())
        {
            var stopAfterTwo = new SyncProgress(p => { if (p.Epoch == 2) cts.Cancel(); });
            Assert.Catch<OperationCanceledException>(() => ExpressionModel.Train(data, options with { CheckpointFolder = checkpoints }, stopAfterTwo, cts.Token));
        }
        var reports = new List<TrainingProgress>();
        using var resumed = ExpressionModel.Train(data, options with { CheckpointFolder = checkpoints }, new SyncProgress(reports.Add));
        Assert.That(reports.Any(r => r.Message?.Contains("Resumed from checkpoint after epoch 2") == true));
        Assert.That(reports.Where(r => r.Epoch > 0).Select(r => r.Epoch), Is.EqualTo(new[] { 3, 4 }));
        Assert.That(File.ReadAllLines(Path.Combine(checkpoints, "learning-curve.csv")), Has.Length.EqualTo(5));
        for (int i = 0; i < images.Length; i++)
            Assert.That(resumed.Predict(images[i]).Scores, Is.EqualTo(straight.Predict(images[i]).Scores));
    }

    [Test]
    public void Checkpoints_WrittenBeforeLaterOptionsExisted_StayResumable()
    {
        // A checkpoint's options are compared as JSON; options added since the first release must not appear there at
        // their default, or every older checkpoint folder would be refused.
        var json = System.Text.Json.JsonSerializer.Serialize(new ExpressionTrainingOptions());
        Assert.That(json, Does.Not.Contain(nameof(ExpressionTrainingOptions.MixupAlpha)).And.Not.Contain(nameof(ExpressionTrainingOptions.WeightAveragingDecay)));
    }

    [Test]
    public void Checkpoints_ResumeInTheOtherPrecisionButRefuseOtherChanges()
    {
        var data = TestData.TinyDataset(perClass: 12, seed: 9);
        var checkpoints = TestData.NewFolder("resume-precision");
        var options = TestData.FastOptions with { Epochs = 2, CheckpointFolder = checkpoints };
        using (ExpressionModel.Train(data, options)) { }
        var reports = new List<TrainingProgress>();
        using (ExpressionModel.Train(data, options with { Epochs = 3, Precision = TrainingPrecision.BFloat16 }, new SyncProgress(reports.Add))) { }
        Assert.That(reports.Any(r => r.Message?.Contains("Resumed from checkpoint after epoch 2") == true));
        Assert.That(reports.Where(r => r.Epoch > 0).Select(r => r.Epoch), Is.EqualTo(new[] { 3 }));
        var e = Assert.Throws<InvalidOperationException>(() => ExpressionModel.Train(data, options with { Epochs = 4, LearningRate = 0.01 }));
        Assert.That(e!.Message, Does.Contain(checkpoints).And.Contain("different training options")
            .And.Contain("LearningRate: 0.05 in the checkpoint, 0.01 now"));
        Assert.That(e.Message, Does.Not.Contain("Epochs"), "the epoch count may change between sessions");
    }
}

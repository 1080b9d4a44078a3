namespace FacialExpression.Tests.Training;

public sealed class CancellationTests
{
    [Test]
    public void Cancel_MidEpoch_StopsBetweenBatchesAndKeepsOnlyCompletedEpochs()
    {
        var dir = TestData.NewFolder("cancel");
        var checkpoints = Path.Combine(dir, "checkpoints");
        // 90 % of the images are trained on; the rest are held out for validation (ValidationFraction 0.1).
        double trainedPerEpoch = Directory.GetFiles(TestData.TrainFolder, "*.png", SearchOption.AllDirectories).Length * 0.9;
        using var cts = new CancellationTokenSource();
        var epochs = new List<int>();
        var progress = new SyncProgress(p =>
        {
            if (p.Epoch == 0) return;
            epochs.Add(p.Epoch);
            // Epoch 2's training pass takes about as long as epoch 1's: cancel a third of the way into it, so only the
            // check between batches can stop it before it ends.
            if (p.Epoch == 1) cts.CancelAfter(TimeSpan.FromSeconds(trainedPerEpoch / p.ImagesPerSecond / 3));
        });
        var options = TestData.FastOptions with { Epochs = 50, CheckpointFolder = checkpoints };
        Assert.Catch<OperationCanceledException>(() => ExpressionModel.Train(TestData.TrainFolder, options, progress, cts.Token));
        Assert.That(epochs, Is.EqualTo(new[] { 1 }), "epoch 2 was stopped part-way, not finished and reported");
        Assert.That(Directory.GetFiles(checkpoints).Select(Path.GetFileName).Order(StringComparer.Ordinal),
            Is.EqualTo(new[] { "best-0001.weights", "epoch-0001.optimizer", "epoch-0001.weights", "learning-curve.csv", "state.json" }),
            "epoch 1's checkpoint stays for resuming; nothing of epoch 2 and no temporary file is left");
    }

    [Test]
    public void EvaluateAndPredictBatch_StopWhenCancelled_AndTheModelStaysUsable()
    {
        var images = TestData.SomeTestImages(2);
        var expected = TestData.Model.PredictBatch(images);
        using var cts = new CancellationTokenSource();
        cts.Cancel();

        Assert.Catch<OperationCanceledException>(() => TestData.Model.Evaluate(TestData.TestFolder, cts.Token));
        Assert.Catch<OperationCanceledException>(() => TestData.Model.PredictBatch(images, cts.Token));
        Assert.That(TestData.Model.PredictBatch(images), Is.EqualTo(expected), "a cancelled call leaves the model as it was");
    }

    [TestCase(0.0, 1, 0.0)]
    [TestCase(0.9, 1, 0.0)]
    [TestCase(0.9, 2, 0.5)]
    public void Checkpoints_LetAnInterruptedRunResumeToTheSameModel(double weightAveraging, int networks, double mutualLearning)
    {
        var data = TestData.TinyDataset(perClass: 16, seed: 8);
        var images = Directory.GetFiles(data, "*.png", SearchOption.AllDirectories).Take(8).ToArray();
        var options = TestData.FastOptions with { Epochs = 4, WeightAveragingDecay = weightAveraging, Networks = networks, MutualLearning = mutualLearning, Threads = 1 };
        using var straight = ExpressionModel.Train(data, options);

        var checkpoints = TestData.NewFolder($"resume-{weightAveraging}-{networks}");
        var firstSegment = TimeSpan.Zero;
        using (var cts = new CancellationTokenSource())
        {
            var stopAfterTwo = new SyncProgress(p => { if (p.Epoch == 2) { firstSegment = p.Elapsed; cts.Cancel(); } });
            Assert.Catch<OperationCanceledException>(() => ExpressionModel.Train(data, options with { CheckpointFolder = checkpoints }, stopAfterTwo, cts.Token));
        }
        // What a process killed while writing epoch 3's checkpoint leaves behind: some of that epoch's files, but not
        // its state file. Resuming must take epoch 2's files, not these.
        File.WriteAllBytes(Path.Combine(checkpoints, "epoch-0003.weights"), new byte[100]);
        File.WriteAllBytes(Path.Combine(checkpoints, "best-0003.weights"), new byte[100]);
        var reports = new List<TrainingProgress>();
        using var resumed = ExpressionModel.Train(data, options with { CheckpointFolder = checkpoints }, new SyncProgress(reports.Add));
        Assert.That(ResumedAfter(reports, 2));
        Assert.That(reports.Where(r => r.Epoch > 0).Select(r => r.Epoch), Is.EqualTo(new[] { 3, 4 }));
        Assert.That(reports.First(r => r.Epoch == 3).Elapsed, Is.GreaterThan(firstSegment), "Elapsed continues the first segment's count");
        Assert.That(File.ReadAllLines(Path.Combine(checkpoints, "learning-curve.csv")), Has.Length.EqualTo(5));
        var left = Directory.GetFiles(checkpoints).Select(Path.GetFileName).Where(f => !f!.StartsWith("best-", StringComparison.Ordinal)).Order(StringComparer.Ordinal);
        var kinds = weightAveraging > 0 ? new[] { "average", "optimizer", "weights" } : ["optimizer", "weights"];
        var expected = Enumerable.Range(1, networks).SelectMany(k => kinds.Select(kind => k == 1 ? $"epoch-0004.{kind}" : $"epoch-0004.net{k}.{kind}"))
            .Concat(["learning-curve.csv", "state.json"]).Order(StringComparer.Ordinal);
        Assert.That(left, Is.EqualTo(expected), "only the last epoch's files are kept, one set per network");
        Assert.That(Directory.GetFiles(checkpoints, "best-*"), Has.Length.EqualTo(networks));
        for (int i = 0; i < images.Length; i++)
            Assert.That(resumed.Predict(images[i]).Scores, Is.EqualTo(straight.Predict(images[i]).Scores));
    }

    [Test]
    public void Checkpoints_WrittenBeforeLaterOptionsExisted_StayResumable()
    {
        // A checkpoint's options are compared as JSON; options added since the first release must not appear there at
        // their default, or every older checkpoint folder would be refused.
        var json = FacialExpression.Training.Checkpoint.Fingerprint(new ExpressionTrainingOptions());
        foreach (var later in new[] { nameof(ExpressionTrainingOptions.MixupAlpha), nameof(ExpressionTrainingOptions.WeightAveragingDecay), nameof(ExpressionTrainingOptions.Precision), nameof(ExpressionTrainingOptions.Networks), nameof(ExpressionTrainingOptions.MutualLearning) })
            Assert.That(json, Does.Not.Contain(later));
        Assert.That(json, Does.Contain(nameof(ExpressionTrainingOptions.LearningRate)), "the other options are compared");
    }

    [Test]
    public void Checkpoints_ResumeInTheOtherPrecisionButRefuseOtherChanges()
    {
        var (data, checkpoints, options) = TrainWithCheckpoints("resume-precision", seed: 9, epochs: 2);
        var reports = new List<TrainingProgress>();
        using (ExpressionModel.Train(data, options with { Epochs = 3, Precision = TrainingPrecision.BFloat16 }, new SyncProgress(reports.Add))) { }
        Assert.That(ResumedAfter(reports, 2));
        Assert.That(reports.Where(r => r.Epoch > 0).Select(r => r.Epoch), Is.EqualTo(new[] { 3 }));
        var e = Assert.Throws<InvalidOperationException>(() => ExpressionModel.Train(data, options with { Epochs = 4, LearningRate = 0.01 }));
        Assert.That(e!.Message, Does.Contain(checkpoints).And.Contain("different training options")
            .And.Contain("LearningRate: 0.05 in the checkpoint, 0.01 now"));
        Assert.That(e.Message, Does.Not.Contain("Epochs"), "the epoch count may change between sessions");
    }

    [Test]
    public void Checkpoints_RefuseToContinueOnDifferentData()
    {
        var (data, checkpoints, options) = TrainWithCheckpoints("resume-other-data", seed: 15, epochs: 1);
        var other = TestData.TinyDataset(perClass: 12, seed: 16); // same labels and counts, other images
        var e = Assert.Throws<InvalidOperationException>(() => ExpressionModel.Train(other, options with { Epochs = 2 }));
        Assert.That(e!.Message, Does.Contain(checkpoints).And.Contain("different data").And.Contain("pixel mean"));
        var reports = new List<TrainingProgress>();
        using (ExpressionModel.Train(data, options with { Epochs = 2 }, new SyncProgress(reports.Add))) { }
        Assert.That(ResumedAfter(reports, 1), "the refused attempt left the folder resumable");
    }

    [Test]
    public void Checkpoints_InTheEarlierSingleSetLayout_StillResume()
    {
        var (data, checkpoints, options) = TrainWithCheckpoints("resume-earlier-layout", seed: 10, epochs: 2);
        // Rename the files as versions before the per-epoch names wrote them.
        foreach (var (now, earlier) in new[] { ("epoch-0002.weights", "last.weights"), ("epoch-0002.optimizer", "last.optimizer") })
            File.Move(Path.Combine(checkpoints, now), Path.Combine(checkpoints, earlier));
        var best = Directory.GetFiles(checkpoints, "best-*").Single();
        File.Move(best, Path.Combine(checkpoints, "best.weights"));
        var reports = new List<TrainingProgress>();
        using (ExpressionModel.Train(data, options with { Epochs = 3 }, new SyncProgress(reports.Add))) { }
        Assert.That(ResumedAfter(reports, 2));
        Assert.That(Directory.GetFiles(checkpoints, "*.weights").Select(Path.GetFileName), Has.None.EqualTo("last.weights").And.None.EqualTo("best.weights"),
            "the earlier layout's files are replaced by the new one");
        Assert.That(Directory.GetFiles(checkpoints, "best-*"), Has.Length.EqualTo(1), "the best weights survive the move to the new layout");
        reports.Clear();
        using (ExpressionModel.Train(data, options with { Epochs = 4 }, new SyncProgress(reports.Add))) { }
        Assert.That(ResumedAfter(reports, 3), "the migrated folder resumes again");
    }

    [Test]
    public void Checkpoints_InUseByAnotherRun_AreRefusedWithoutTouchingIt()
    {
        var data = TestData.TinyDataset(perClass: 12, seed: 13);
        var checkpoints = TestData.NewFolder("resume-in-use");
        var options = TestData.FastOptions with { Epochs = 2, CheckpointFolder = checkpoints };
        using var atEpochOne = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var first = Task.Run(() =>
        {
            using var model = ExpressionModel.Train(data, options, new SyncProgress(p =>
            {
                if (p.Epoch != 1) return;
                atEpochOne.Set();
                release.Wait(TimeSpan.FromMinutes(2));
            }));
            return model.NetworkCount;
        });
        Assert.That(atEpochOne.Wait(TimeSpan.FromMinutes(2)), "the first run reached epoch 1");
        try
        {
            var e = Assert.Throws<InvalidOperationException>(() => ExpressionModel.Train(data, options));
            Assert.That(e!.Message, Does.Contain(checkpoints).And.Contain("in use by another training run"));
        }
        finally
        {
            release.Set();
        }
        Assert.That(first.Result, Is.EqualTo(1), "the first run finished undisturbed");
        Assert.That(File.Exists(Path.Combine(checkpoints, "epoch-0002.weights")));
        Assert.That(File.Exists(Path.Combine(checkpoints, ".lock")), Is.False, "the lock goes with the run");
    }

    [Test]
    public void Checkpoints_LoseTheTemporaryFilesOfKilledWrites_WhenTheNextRunStarts()
    {
        var (data, checkpoints, options) = TrainWithCheckpoints("resume-orphans", seed: 14, epochs: 1);
        var orphans = new[] { ".epoch-0002.weights.0123456789abcdef0123456789abcdef.tmp", ".state.json.0123456789abcdef0123456789abcdef.tmp" }
            .Select(n => Path.Combine(checkpoints, n)).ToArray();
        foreach (var orphan in orphans) File.WriteAllBytes(orphan, new byte[10]);
        var mine = Path.Combine(checkpoints, "notes.tmp");
        File.WriteAllText(mine, "not the trainer's");
        using (ExpressionModel.Train(data, options with { Epochs = 2 })) { }
        Assert.That(orphans.Where(File.Exists), Is.Empty);
        Assert.That(File.Exists(mine), "files the trainer did not write stay");
    }

    [Test]
    public void Checkpoints_WithoutValidationData_Resume()
    {
        var data = TestData.TinyDataset(perClass: 12, seed: 11);
        var checkpoints = TestData.NewFolder("resume-no-validation");
        var options = TestData.FastOptions with { Epochs = 1, ValidationFraction = 0, CheckpointFolder = checkpoints };
        using (ExpressionModel.Train(data, options)) { }
        var reports = new List<TrainingProgress>();
        using var resumed = ExpressionModel.Train(data, options with { Epochs = 2 }, new SyncProgress(reports.Add));
        Assert.That(ResumedAfter(reports, 1));
        Assert.That(reports.Where(r => r.Epoch > 0).Select(r => r.Epoch), Is.EqualTo(new[] { 2 }));
        Assert.That(resumed.ValidationAccuracy, Is.Null);
    }

    [Test]
    public void Checkpoints_OfARunEarlyStoppingEnded_ReturnTheSameModelWithoutTrainingMore()
    {
        var data = TestData.TinyDataset(perClass: 12, seed: 12);
        var images = Directory.GetFiles(data, "*.png", SearchOption.AllDirectories).Take(4).ToArray();
        var options = TestData.FastOptions with { Epochs = 40, EarlyStoppingPatience = 1, CheckpointFolder = TestData.NewFolder("resume-stopped"), Threads = 1 };
        var first = new List<TrainingProgress>();
        using var stopped = ExpressionModel.Train(data, options, new SyncProgress(first.Add));
        int last = first.Last(r => r.Epoch > 0).Epoch;
        Assert.That(last, Is.LessThan(40), "early stopping ended the run");
        var again = new List<TrainingProgress>();
        using var rerun = ExpressionModel.Train(data, options, new SyncProgress(again.Add));
        Assert.That(ResumedAfter(again, last));
        Assert.That(again.Where(r => r.Epoch > 0), Is.Empty, "no epoch is trained after the one early stopping ended on");
        Assert.That(again.Any(r => r.Message?.Contains($"had stopped early after epoch {last}") == true));
        for (int i = 0; i < images.Length; i++)
            Assert.That(rerun.Predict(images[i]).Scores, Is.EqualTo(stopped.Predict(images[i]).Scores));
    }

    [Test]
    public void Checkpoints_WithACorruptStateFile_AreRefusedNamingTheFolderAndTheFix()
    {
        var (data, checkpoints, options) = TrainWithCheckpoints("resume-corrupt", seed: 10, epochs: 1);
        File.WriteAllText(Path.Combine(checkpoints, "state.json"), "{ truncated");
        var e = Assert.Throws<InvalidOperationException>(() => ExpressionModel.Train(data, options with { Epochs = 2 }));
        Assert.That(e!.Message, Does.Contain(checkpoints).And.Contain("state.json").And.Contain("Delete the folder"));
        Directory.Delete(checkpoints, recursive: true); // the fix the message gives
        using (ExpressionModel.Train(data, options with { Epochs = 2 })) { }
        Assert.That(File.Exists(Path.Combine(checkpoints, "epoch-0002.weights")));
    }

    /// <summary>A finished run of <paramref name="epochs"/> epochs on a tiny dataset, checkpointed to a new folder.</summary>
    private static (string Data, string Checkpoints, ExpressionTrainingOptions Options) TrainWithCheckpoints(string name, int seed, int epochs)
    {
        var data = TestData.TinyDataset(perClass: 12, seed: seed);
        var checkpoints = TestData.NewFolder(name);
        var options = TestData.FastOptions with { Epochs = epochs, CheckpointFolder = checkpoints };
        using (ExpressionModel.Train(data, options)) { }
        return (data, checkpoints, options);
    }

    private static bool ResumedAfter(IEnumerable<TrainingProgress> reports, int epoch) =>
        reports.Any(r => r.Message?.Contains($"Resumed from checkpoint after epoch {epoch}") == true);
}

using FacialExpression.Data;
using FacialExpression.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace FacialExpression.Tests.Training;

public sealed class MultiNetworkTests
{
    [Test]
    public void TwoNetworks_TrainSideBySide_AndReturnTheirEnsembleAsOneModel()
    {
        var options = TestData.FastOptions with { Epochs = 6, Networks = 2, Threads = 1 };
        var reports = new List<TrainingProgress>();
        using var model = ExpressionModel.Train(TestData.TrainFolder, options, new SyncProgress(reports.Add));

        Assert.That(model.NetworkCount, Is.EqualTo(2));
        Assert.That(model.Evaluate(TestData.TestFolder).Accuracy, Is.GreaterThan(0.8), "the ensemble has learnt (5 classes: chance is 0.2)");
        var best = reports.Last(r => r.IsBestEpoch);
        Assert.That(model.ValidationAccuracy, Is.EqualTo(best.ValidationAccuracy), "the ensemble's validation accuracy at the kept epoch");

        var path = Path.Combine(TestData.NewFolder("two-networks"), "ensemble.fexm");
        model.Save(path);
        using var loaded = ExpressionModel.Load(path);
        Assert.That(loaded.NetworkCount, Is.EqualTo(2));
        Assert.That(loaded.ValidationAccuracy, Is.EqualTo(model.ValidationAccuracy));
        var images = TestData.SomeTestImages(1);
        Assert.That(loaded.PredictBatch(images).Select(p => p.Scores), Is.EqualTo(model.PredictBatch(images).Select(p => p.Scores)));

        // Each network on its own: the ensemble's scores are their average, and neither claims the ensemble's accuracy.
        using var first = model.Network(0);
        using var second = model.Network(1);
        var (a, b, both) = (first.Predict(images[0]).Scores, second.Predict(images[0]).Scores, model.Predict(images[0]).Scores);
        foreach (var label in model.Labels)
            Assert.That(both[label], Is.EqualTo((a[label] + b[label]) / 2).Within(1e-5), label);
        Assert.That(a, Is.Not.EqualTo(b), "two differently initialised networks");
        var alone = Path.Combine(TestData.NewFolder("two-networks"), "network-0.fexm");
        first.Save(alone);
        using var reloaded = ExpressionModel.Load(alone);
        Assert.That(new[] { first.ValidationAccuracy, reloaded.ValidationAccuracy }, Is.All.Null, "only the ensemble was validated");
        using var mixed = ExpressionModel.Ensemble([reloaded, second]);
        Assert.That(mixed.ValidationAccuracy, Is.Null);
    }

    [Test]
    public void MutualLearning_PullsTheNetworksPredictionsTogether()
    {
        var pre = ImagePreprocessor.Create(48, 1);
        var train = DatasetReader.ReadFolder(TestData.TrainFolder, pre, throwOnUnreadable: false);
        var test = DatasetReader.ReadFolder(TestData.TestFolder, pre, throwOnUnreadable: false, train.Labels);
        // Mean total-variation distance between the two networks' probabilities on the test images (0: identical, 1: disjoint).
        double Disagreement(double mutualLearning)
        {
            var o = TestData.FastOptions with { Epochs = 2, Networks = 2, Threads = 1, MutualLearning = mutualLearning };
            var outcome = Trainer.Run(train, null, o, null, default);
            try
            {
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                var x = BatchAugmenter.CenterCrop(tensor(test.Pixels, [test.Count, 1, 48, 48]), o.EffectiveCropSize);
                var p = outcome.Nets.Select(n => nn.functional.softmax(n.call(x), 1)).ToArray();
                return (p[0] - p[1]).abs().sum(1).mean().item<float>() / 2;
            }
            finally
            {
                foreach (var net in outcome.Nets) net.Dispose();
            }
        }

        double independent = Disagreement(0), mutual = Disagreement(3);
        TestContext.Out.WriteLine($"disagreement: independent {independent:F4}, mutual learning {mutual:F4}");
        Assert.That(independent, Is.GreaterThan(0.02), "independently initialised networks disagree");
        Assert.That(mutual, Is.LessThan(independent * 0.6), "mutual learning makes them agree more");
    }

    [Test]
    public void TwoNetworks_StopWhenCancelledMidEpoch()
    {
        using var cts = new CancellationTokenSource();
        double trainedPerEpoch = Directory.GetFiles(TestData.TrainFolder, "*.png", SearchOption.AllDirectories).Length * 0.9;
        var epochs = new List<int>();
        var progress = new SyncProgress(p =>
        {
            if (p.Epoch == 0) return;
            epochs.Add(p.Epoch);
            if (p.Epoch == 1) cts.CancelAfter(TimeSpan.FromSeconds(trainedPerEpoch / p.ImagesPerSecond / 3));
        });
        var options = TestData.FastOptions with { Epochs = 50, Networks = 2, Threads = 1, MutualLearning = 1 };
        Assert.Catch<OperationCanceledException>(() => ExpressionModel.Train(TestData.TrainFolder, options, progress, cts.Token));
        Assert.That(epochs, Is.EqualTo(new[] { 1 }), "both networks stopped part-way through epoch 2");
    }
}

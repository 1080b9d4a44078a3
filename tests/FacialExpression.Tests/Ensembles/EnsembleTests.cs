using System.IO.Compression;
using System.Text.Json.Nodes;
using FacialExpression.Tests.Prediction;

namespace FacialExpression.Tests.Ensembles;

public sealed class EnsembleTests
{
    private ExpressionModel _first = null!;
    private ExpressionModel _second = null!;

    [OneTimeSetUp]
    public void TrainTwoMembers()
    {
        _first = ExpressionModel.Load(PredictionTests.SaveShared());
        _second = ExpressionModel.Train(TestData.TrainFolder, TestData.FastOptions with { Epochs = 3, Seed = 7 });
    }

    [OneTimeTearDown]
    public void DisposeMembers()
    {
        _first.Dispose();
        _second.Dispose();
    }

    [TestCase(TestTimeAugmentation.None)]
    [TestCase(TestTimeAugmentation.Flip)]
    [TestCase(TestTimeAugmentation.TenCrop)]
    public void Ensemble_AveragesTheMembersProbabilities(TestTimeAugmentation tta)
    {
        using var ensemble = ExpressionModel.Ensemble([_first, _second]);
        ensemble.TestTimeAugmentation = _first.TestTimeAugmentation = _second.TestTimeAugmentation = tta;
        try
        {
            Assert.That(ensemble.NetworkCount, Is.EqualTo(2));
            Assert.That(ensemble.Labels, Is.EqualTo(_first.Labels));
            foreach (var image in TestData.SomeTestImages(2))
            {
                var a = _first.Predict(image).Scores;
                var b = _second.Predict(image).Scores;
                var both = ensemble.Predict(image);
                foreach (var label in ensemble.Labels)
                    Assert.That(both.Scores[label], Is.EqualTo((a[label] + b[label]) / 2).Within(1e-5), $"{image}: {label}");
                Assert.That(both.Confidence, Is.EqualTo(both.Scores.Values.Max()));
            }
        }
        finally
        {
            _first.TestTimeAugmentation = _second.TestTimeAugmentation = TestTimeAugmentation.None;
        }
    }

    [Test]
    public void Ensemble_KeepsTheMembersTestTimeAugmentationOnlyWhenTheyAgree()
    {
        try
        {
            _first.TestTimeAugmentation = _second.TestTimeAugmentation = TestTimeAugmentation.Flip;
            using (var agreed = ExpressionModel.Ensemble([_first, _second]))
                Assert.That(agreed.TestTimeAugmentation, Is.EqualTo(TestTimeAugmentation.Flip));
            _second.TestTimeAugmentation = TestTimeAugmentation.TenCrop;
            using var mixed = ExpressionModel.Ensemble([_first, _second]);
            Assert.That(mixed.TestTimeAugmentation, Is.EqualTo(TestTimeAugmentation.None));
        }
        finally
        {
            _first.TestTimeAugmentation = _second.TestTimeAugmentation = TestTimeAugmentation.None;
        }
    }

    [Test]
    public void Ensemble_EvaluatesAtLeastAsWellAsItsWeakerMember()
    {
        using var ensemble = ExpressionModel.Ensemble([_first, _second]);
        double weaker = Math.Min(_first.Evaluate(TestData.TestFolder).Accuracy, _second.Evaluate(TestData.TestFolder).Accuracy);
        Assert.That(ensemble.Evaluate(TestData.TestFolder).Accuracy, Is.GreaterThanOrEqualTo(weaker));
        Assert.That(ensemble.ValidationAccuracy, Is.Null, "an ensemble was never validated as a whole");
    }

    [Test]
    public void Ensemble_SavesAndLoadsAsOneVersion2File()
    {
        var path = Path.Combine(TestData.NewFolder("ensemble"), "ensemble.fexm");
        var images = TestData.SomeTestImages(2);
        using (var ensemble = ExpressionModel.Ensemble([_first, _second]))
        {
            var expected = ensemble.PredictBatch(images);
            ensemble.Save(path);
            using var loaded = ExpressionModel.Load(path);
            Assert.That(loaded.NetworkCount, Is.EqualTo(2));
            Assert.That(loaded.Labels, Is.EqualTo(ensemble.Labels));
            var actual = loaded.PredictBatch(images);
            for (int i = 0; i < images.Length; i++) Assert.That(actual[i].Scores, Is.EqualTo(expected[i].Scores));
        }
        using var zip = ZipFile.OpenRead(path);
        Assert.That(zip.Entries.Select(e => e.Name), Is.SupersetOf(new[] { "metadata.json", "preprocessing.zip", "weights-0.bin", "weights-1.bin" }));
        using var meta = zip.GetEntry("metadata.json")!.Open();
        var json = JsonNode.Parse(meta)!;
        Assert.That(json["FormatVersion"]!.GetValue<int>(), Is.EqualTo(2));
        Assert.That(json["Networks"]!.AsArray(), Has.Count.EqualTo(2));
    }

    [Test]
    public void Ensemble_KeepsWorkingAfterItsInputsAreDisposed()
    {
        var image = TestData.SomeTestImages(1)[0];
        var a = ExpressionModel.Load(PredictionTests.SaveShared());
        var b = ExpressionModel.Load(PredictionTests.SaveShared());
        using var ensemble = ExpressionModel.Ensemble([a, b]);
        a.Dispose();
        b.Dispose();
        Assert.That(ensemble.Predict(image).Scores, Is.EqualTo(_first.Predict(image).Scores).Using<float>((x, y) => Math.Abs(x - y) < 1e-5f));
    }

    [Test]
    public void Ensemble_OfAnEnsembleContributesAllItsNetworks()
    {
        using var pair = ExpressionModel.Ensemble([_first, _second]);
        using var triple = ExpressionModel.Ensemble([pair, _first]);
        Assert.That(triple.NetworkCount, Is.EqualTo(3));
        var image = TestData.SomeTestImages(1)[0];
        var a = _first.Predict(image).Scores;
        var b = _second.Predict(image).Scores;
        foreach (var label in triple.Labels)
            Assert.That(triple.Predict(image).Scores[label], Is.EqualTo((2 * a[label] + b[label]) / 3).Within(1e-5));
    }

    [Test]
    public void Network_GivesBackEachMemberOfAnEnsemble()
    {
        using var pair = ExpressionModel.Ensemble([_first, _second]);
        pair.TestTimeAugmentation = TestTimeAugmentation.Flip;
        var images = TestData.SomeTestImages(2);
        foreach (var (index, member) in new[] { (0, _first), (1, _second) })
        {
            using var network = pair.Network(index);
            Assert.That(network.NetworkCount, Is.EqualTo(1));
            Assert.That(network.Labels, Is.EqualTo(pair.Labels));
            Assert.That(network.TestTimeAugmentation, Is.EqualTo(TestTimeAugmentation.Flip), "keeps the model's test-time augmentation");
            Assert.That(network.ValidationAccuracy, Is.EqualTo(member.ValidationAccuracy), "a network trained alone keeps its own validation accuracy");
            network.TestTimeAugmentation = TestTimeAugmentation.None;
            var expected = member.PredictBatch(images);
            var actual = network.PredictBatch(images);
            for (int i = 0; i < images.Length; i++)
                Assert.That(actual[i].Scores, Is.EqualTo(expected[i].Scores).Using<float>((x, y) => Math.Abs(x - y) < 1e-6f), $"network {index}, {images[i]}");
        }
    }

    [Test]
    public void Network_RejectsAnIndexOutsideTheModel_AndADisposedModel()
    {
        using var pair = ExpressionModel.Ensemble([_first, _second]);
        foreach (var index in new[] { -1, 2 })
        {
            var e = Assert.Throws<ArgumentOutOfRangeException>(() => pair.Network(index));
            Assert.That(e!.Message, Does.Contain("2 network(s)").And.Contain("0 to 1"));
            Assert.That(e.ActualValue, Is.EqualTo(index));
        }
        pair.Dispose();
        Assert.Throws<ObjectDisposedException>(() => pair.Network(0));
    }

    [Test]
    public void Ensemble_RejectsFewerThanTwoNetworks()
    {
        var e = Assert.Throws<ArgumentException>(() => ExpressionModel.Ensemble([_first]));
        Assert.That(e!.Message, Does.Contain("at least two networks"));
        Assert.Throws<ArgumentException>(() => ExpressionModel.Ensemble([]));
        Assert.Throws<ArgumentNullException>(() => ExpressionModel.Ensemble(null!));
    }

    [Test]
    public void Ensemble_RejectsModelsWithDifferentLabels()
    {
        var data = TestData.TinyDataset(perClass: 6);
        var dropped = Directory.GetDirectories(data).OrderBy(d => d, StringComparer.Ordinal).Last();
        Directory.Delete(dropped, recursive: true);
        using var fewerLabels = ExpressionModel.Train(data, TestData.FastOptions with { Epochs = 1, ValidationFraction = 0 });
        var e = Assert.Throws<ArgumentException>(() => ExpressionModel.Ensemble([_first, fewerLabels]));
        Assert.That(e!.Message, Does.Contain("same labels").And.Contain(Path.GetFileName(dropped)));
    }

    [Test]
    public void Ensemble_RejectsADisposedModel()
    {
        var disposed = ExpressionModel.Load(PredictionTests.SaveShared());
        disposed.Dispose();
        Assert.Throws<ObjectDisposedException>(() => ExpressionModel.Ensemble([_first, disposed]));
    }

    [TestCase(false)]
    [TestCase(true)]
    public void Load_EnsembleWithNullLabels_ThrowsModelFormatException(bool inANetwork)
    {
        var path = Path.Combine(TestData.NewFolder("ensemble-null-labels"), "ensemble.fexm");
        using (var ensemble = ExpressionModel.Ensemble([_first, _second])) ensemble.Save(path);
        using (var zip = ZipFile.Open(path, ZipArchiveMode.Update))
        {
            var entry = zip.GetEntry("metadata.json")!;
            JsonNode json;
            using (var s = entry.Open()) json = JsonNode.Parse(s)!;
            entry.Delete();
            if (inANetwork) json["Networks"]![1]!["Labels"] = null;
            else json["Labels"] = null;
            using var w = new StreamWriter(zip.CreateEntry("metadata.json").Open());
            w.Write(json.ToJsonString());
        }
        var e = Assert.Throws<ModelFormatException>(() => ExpressionModel.Load(path));
        Assert.That(e!.Message, Does.Contain(path).And.Contain("inconsistent"));
    }

    [Test]
    public void Load_EnsembleMissingAMembersWeights_ThrowsNamingTheEntry()
    {
        var path = Path.Combine(TestData.NewFolder("ensemble-broken"), "ensemble.fexm");
        using (var ensemble = ExpressionModel.Ensemble([_first, _second])) ensemble.Save(path);
        using (var zip = ZipFile.Open(path, ZipArchiveMode.Update)) zip.GetEntry("weights-1.bin")!.Delete();
        var e = Assert.Throws<ModelFormatException>(() => ExpressionModel.Load(path));
        Assert.That(e!.Message, Does.Contain("weights-1.bin").And.Contain(path));
    }
}

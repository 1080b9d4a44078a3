using System.Globalization;
using System.Text.RegularExpressions;
using FacialExpression.Tests.Faces;
using FacialExpression.Tests.Fer2013;
using SkiaSharp;

namespace FacialExpression.Tests.Pretrained;

public sealed class PretrainedModelTests
{
    private static readonly string[] Fer2013Labels = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"];

    [Test]
    public void LoadPretrained_WorksOfflineWithTheSevenFer2013Labels()
    {
        using var model = ExpressionModel.LoadPretrained();
        Assert.That(model.Labels, Is.EqualTo(Fer2013Labels));
        Assert.That(model.ImageSize, Is.EqualTo(48));
        Assert.That(model.NetworkCount, Is.EqualTo(2), "the model card documents a two-network ensemble");
    }

    [Test]
    public void LoadPretrained_PredictsAProbabilityVector()
    {
        using var model = ExpressionModel.LoadPretrained();
        var image = TestData.SomeTestImages(1)[0];
        var p = model.Predict(image);
        Assert.That(p.Scores.Keys, Is.EquivalentTo(Fer2013Labels));
        Assert.That(p.Scores.Values, Has.All.InRange(0f, 1f));
        Assert.That(p.Scores.Values.Sum(), Is.EqualTo(1f).Within(1e-4));
    }

    [Test]
    public void LoadPretrained_AveragesTheFaceAndItsMirrorImageByDefault()
    {
        // The model card's headline setting: flip test-time augmentation, stored in the packaged file.
        using var model = ExpressionModel.LoadPretrained();
        Assert.That(model.TestTimeAugmentation, Is.EqualTo(TestTimeAugmentation.Flip));
        var image = TestData.SomeTestImages(1)[0];
        string mirrored;
        using (var bitmap = FaceImages.Decode(image))
        using (var flipped = FaceImages.Transform(bitmap, bitmap.Width, bitmap.Height, SKMatrix.CreateScaleTranslation(-1, 1, bitmap.Width, 0)))
            mirrored = FaceImages.Save(flipped, "mirrored.png");
        var byDefault = model.Predict(image).Scores;
        model.TestTimeAugmentation = TestTimeAugmentation.None;
        var face = model.Predict(image).Scores;
        var mirror = model.Predict(mirrored).Scores;
        Assert.That(Fer2013Labels.Max(l => Math.Abs(face[l] - mirror[l])), Is.GreaterThan(1e-3), "the drawn face is not symmetric, so the two views differ");
        foreach (var label in Fer2013Labels)
            Assert.That(byDefault[label], Is.EqualTo((face[label] + mirror[label]) / 2).Within(1e-5), label);
    }

    [Test]
    public void LoadPretrained_ReturnsIndependentInstances()
    {
        var a = ExpressionModel.LoadPretrained();
        using var b = ExpressionModel.LoadPretrained();
        a.Dispose();
        Assert.That(b.Predict(TestData.SomeTestImages(1)[0]).Scores, Has.Count.EqualTo(7));
    }

    [TestCase(TestTimeAugmentation.None)]
    [TestCase(TestTimeAugmentation.Flip)]
    [Category("Fer2013")]
    public void EvaluateOnVal_ReproducesTheModelCardWithinHalfAPoint(TestTimeAugmentation tta)
    {
        var val = Path.Combine(Fer2013Data.RequireRoot(), "val");
        double documented = DocumentedValAccuracy(tta);
        using var model = ExpressionModel.LoadPretrained();
        model.TestTimeAugmentation = tta;
        var report = model.Evaluate(val);
        TestContext.Out.WriteLine(report);
        Assert.That(report.Accuracy * 100, Is.EqualTo(documented).Within(0.5));
    }

    /// <summary>Reads the accuracy the model card claims, so the test and the docs cannot drift apart.</summary>
    private static double DocumentedValAccuracy(TestTimeAugmentation tta)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var card = Path.Combine(dir.FullName, "docs", "model-card.md");
            if (!File.Exists(card)) continue;
            var m = Regex.Match(File.ReadAllText(card), $@"\|\s*val\s*\|\s*{tta}\s*\|\s*([0-9.]+) %");
            Assert.That(m.Success, $"docs/model-card.md has no '| val | {tta} | xx.xx % |' row");
            return double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        }
        Assert.Fail("docs/model-card.md not found above " + AppContext.BaseDirectory);
        return 0;
    }
}

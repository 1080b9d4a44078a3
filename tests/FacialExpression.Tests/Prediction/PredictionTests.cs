using TorchSharp;

namespace FacialExpression.Tests.Prediction;

public sealed class PredictionTests
{
    [Test]
    public void Predict_ScoresCoverEveryLabelAndSumToOne()
    {
        var image = TestData.SomeTestImages(1)[0];
        var p = TestData.Model.Predict(image);
        Assert.That(p.Scores.Keys, Is.EquivalentTo(TestData.Model.Labels));
        Assert.That(p.Scores.Values.Sum(), Is.EqualTo(1f).Within(1e-4));
        Assert.That(p.Confidence, Is.EqualTo(p.Scores.Values.Max()));
        Assert.That(p.Scores[p.Label], Is.EqualTo(p.Confidence));
    }

    [Test]
    public void Predictions_AreReadOnlyValues()
    {
        var images = TestData.SomeTestImages(1);
        var first = TestData.Model.Predict(images[0]);
        var again = TestData.Model.Predict(images[0]);
        Assert.That(again, Is.EqualTo(first), "the same image predicts an equal value");
        Assert.That(again.GetHashCode(), Is.EqualTo(first.GetHashCode()));
        Assert.That(TestData.Model.Predict(images[^1]), Is.Not.EqualTo(first));
        // Callers cannot change the scores by casting them to a writable dictionary.
        Assert.Throws<NotSupportedException>(() => ((IDictionary<string, float>)first.Scores)[first.Label] = 0);
    }

    [Test]
    public void PredictPathStreamPixelsAndBatch_AgreeForTheSameImage()
    {
        var path = TestData.SomeTestImages(1)[0];
        var model = TestData.Model;
        var fromPath = model.Predict(path);
        using var stream = File.OpenRead(path);
        var fromStream = model.Predict(stream);
        using var bmp = SkiaSharp.SKBitmap.Decode(path);
        var gray = new byte[bmp.Width * bmp.Height];
        for (int y = 0; y < bmp.Height; y++)
            for (int x = 0; x < bmp.Width; x++) gray[y * bmp.Width + x] = bmp.GetPixel(x, y).Red;
        var fromPixels = model.Predict(gray, bmp.Width, bmp.Height);
        var fromBatch = model.PredictBatch([path, path])[1];
        foreach (var other in new[] { fromStream, fromPixels, fromBatch })
        {
            Assert.That(other.Label, Is.EqualTo(fromPath.Label));
            foreach (var l in model.Labels) Assert.That(other.Scores[l], Is.EqualTo(fromPath.Scores[l]).Within(1e-5));
        }
    }

    [Test]
    public void Predict_LargeColourImage_IsResizedLikeTrainingImages()
    {
        var path = TestData.SomeTestImages(1)[0];
        using var small = SkiaSharp.SKBitmap.Decode(path);
        using var big = small.Resize(new SkiaSharp.SKImageInfo(192, 192, SkiaSharp.SKColorType.Rgba8888), new SkiaSharp.SKSamplingOptions(SkiaSharp.SKFilterMode.Linear));
        using var data = big.Encode(SkiaSharp.SKEncodedImageFormat.Jpeg, 95);
        var prediction = TestData.Model.Predict(data.AsStream());
        Assert.That(prediction.Label, Is.EqualTo(TestData.Model.Predict(path).Label));
    }

    [Test]
    public void PredictBatch_KeepsInputOrder()
    {
        var images = TestData.SomeTestImages(4);
        var batch = TestData.Model.PredictBatch(images);
        Assert.That(batch.Select(p => p.Label), Is.EqualTo(images.Select(i => TestData.Model.Predict(i).Label)));
    }

    [Test]
    public void EightThreadsPredicting_GetTheSingleThreadedResults()
    {
        var images = TestData.SomeTestImages(6);
        var expected = images.Select(i => TestData.Model.Predict(i)).ToArray();
        var actual = new ExpressionPrediction[8][];
        Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 8 }, t =>
            actual[t] = images.Select(i => TestData.Model.Predict(i)).ToArray());
        foreach (var run in actual)
            for (int i = 0; i < images.Length; i++)
                Assert.That(run[i].Scores, Is.EqualTo(expected[i].Scores), $"image {images[i]}");
    }

    [Test]
    public void ThousandsOfPredictions_LeakNoTensors()
    {
        var image = TestData.SomeTestImages(1)[0];
        var model = TestData.Model;
        using var stream = new MemoryStream(File.ReadAllBytes(image));
        model.Predict(stream); // warm-up
        Assert.That(stream.CanRead, "Predict(Stream) must leave the caller's stream open");
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (int i = 0; i < 2000; i++)
        {
            stream.Position = 0;
            model.Predict(stream);
        }
        Assert.That(DisposeScopeManager.Statistics.ThreadTotalLiveCount, Is.EqualTo(before));
    }

    [Test]
    public void TestTimeAugmentation_ScoresStillSumToOneAndAccuracyHolds()
    {
        var images = TestData.SomeTestImages(3);
        using var model = ExpressionModel.Load(SaveShared());
        foreach (var tta in Enum.GetValues<TestTimeAugmentation>())
        {
            model.TestTimeAugmentation = tta;
            foreach (var p in model.PredictBatch(images)) Assert.That(p.Scores.Values.Sum(), Is.EqualTo(1f).Within(1e-4));
            Assert.That(model.Evaluate(TestData.TestFolder).Accuracy, Is.GreaterThan(0.85), tta.ToString());
        }
    }

    [Test]
    public void Dispose_IsIdempotentAndLaterCallsThrowObjectDisposed()
    {
        var model = ExpressionModel.Load(SaveShared());
        model.Dispose();
        model.Dispose();
        var image = TestData.SomeTestImages(1)[0];
        Assert.Throws<ObjectDisposedException>(() => model.Predict(image));
        Assert.Throws<ObjectDisposedException>(() => model.Evaluate(TestData.TestFolder));
        Assert.Throws<ObjectDisposedException>(() => model.Save(Path.Combine(TestData.NewFolder("disposed"), "m.fexm")));
    }

    internal static string SaveShared()
    {
        var path = Path.Combine(TestData.NewFolder("shared"), "model.fexm");
        TestData.Model.Save(path);
        return path;
    }
}

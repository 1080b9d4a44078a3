using FacialExpression.Data;
using FacialExpression.Faces;
using SkiaSharp;

namespace FacialExpression.Tests.Faces;

/// <summary>The built-in OpenCV cascade detector and the photo decoding it relies on.</summary>
public sealed class CascadeFaceDetectorTests
{
    private static byte[] Bgra(SKBitmap bitmap) => bitmap.GetPixelSpan().ToArray();

    [Test]
    public void Detect_FindsTheAstronautsFace_WithAConfidenceBetweenZeroAndOne()
    {
        using var detector = new CascadeFaceDetector();
        using var photo = FaceImages.Astronaut();
        // 320×320, as PredictFaces searches it by default.
        using var small = photo.Resize(new SKImageInfo(320, 320, SKColorType.Bgra8888, SKAlphaType.Opaque), new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear));

        var faces = detector.Detect(Bgra(small), small.Width, small.Height);

        Assert.That(faces, Has.Count.EqualTo(1));
        var b = faces[0].Box;
        var scaled = new FaceBox(b.X * 8 / 5, b.Y * 8 / 5, b.Width * 8 / 5, b.Height * 8 / 5);
        Assert.That(scaled.IntersectionOverUnion(FaceImages.AstronautFace), Is.GreaterThan(0.55));
        Assert.That(faces[0].Confidence, Is.GreaterThan(0f).And.LessThan(1f));
    }

    [Test]
    public void Detect_WrongPixelCount_ThrowsArgumentException()
    {
        using var detector = new CascadeFaceDetector();

        Assert.Throws<ArgumentException>(() => detector.Detect(new byte[10], 4, 4));
    }

    [Test]
    public void Dispose_IsIdempotent_AndDetectThenThrowsObjectDisposed()
    {
        var detector = new CascadeFaceDetector();
        detector.Dispose();
        detector.Dispose();

        Assert.Throws<ObjectDisposedException>(() => detector.Detect(new byte[16 * 16 * 4], 16, 16));
    }

    [Test]
    public void Options_OutOfRange_AreRejectedNamingTheProperty()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new CascadeFaceDetector(new CascadeFaceDetectorOptions { ScaleFactor = 1.0 }))!;
        Assert.That(e.ParamName, Is.EqualTo(nameof(CascadeFaceDetectorOptions.ScaleFactor)));
        e = Assert.Throws<ArgumentOutOfRangeException>(() => new CascadeFaceDetector(new CascadeFaceDetectorOptions { MinFaceSize = 100, MaxFaceSize = 50 }))!;
        Assert.That(e.ParamName, Is.EqualTo(nameof(CascadeFaceDetectorOptions.MaxFaceSize)));
    }

    [Test]
    public void CascadeFile_MissingOrNotACascade_ThrowsDatasetExceptionNamingIt()
    {
        var folder = TestData.NewFolder("cascade");
        var missing = Path.Combine(folder, "missing.xml");
        var notCascade = Path.Combine(folder, "not-a-cascade.xml");
        File.WriteAllText(notCascade, "<?xml version=\"1.0\"?><opencv_storage><x>1</x></opencv_storage>");

        var e1 = Assert.Throws<DatasetException>(() => new CascadeFaceDetector(new CascadeFaceDetectorOptions { CascadeFile = missing }))!;
        var e2 = Assert.Throws<DatasetException>(() => new CascadeFaceDetector(new CascadeFaceDetectorOptions { CascadeFile = notCascade }))!;

        Assert.That(e1.Path, Is.EqualTo(missing));
        Assert.That(e2.Message, Does.Contain(notCascade));
    }

    [Test]
    public void BuiltInCascade_AndItsLicence_AreEmbedded()
    {
        var names = typeof(CascadeFaceDetector).Assembly.GetManifestResourceNames();

        Assert.That(names, Does.Contain("FacialExpression.Faces.Cascades." + CascadeFaceDetector.BuiltInCascadeName));
        Assert.That(names, Does.Contain("FacialExpression.Faces.Cascades.LICENSE-OpenCV-cascades.txt"));
    }

    /// <summary>Every EXIF orientation, checked against a naive per-pixel reference of the EXIF definitions.</summary>
    [TestCase(SKEncodedOrigin.TopLeft)]
    [TestCase(SKEncodedOrigin.TopRight)]
    [TestCase(SKEncodedOrigin.BottomRight)]
    [TestCase(SKEncodedOrigin.BottomLeft)]
    [TestCase(SKEncodedOrigin.LeftTop)]
    [TestCase(SKEncodedOrigin.RightTop)]
    [TestCase(SKEncodedOrigin.RightBottom)]
    [TestCase(SKEncodedOrigin.LeftBottom)]
    public void Normalize_AppliesEachExifOrientation(SKEncodedOrigin origin)
    {
        const int W = 3, H = 2;
        using var stored = new SKBitmap(new SKImageInfo(W, H, SKColorType.Bgra8888, SKAlphaType.Opaque));
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) stored.SetPixel(x, y, new SKColor((byte)(40 * x + 10), (byte)(100 * y + 10), 200));

        using var upright = Photo.Normalize(stored, origin);

        bool swap = (int)origin >= 5;
        Assert.That((upright.Width, upright.Height), Is.EqualTo(swap ? (H, W) : (W, H)));
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
            {
                // Where stored pixel (x, y) is displayed, straight from the EXIF table of row/column meanings.
                var (dx, dy) = origin switch
                {
                    SKEncodedOrigin.TopLeft => (x, y),
                    SKEncodedOrigin.TopRight => (W - 1 - x, y),
                    SKEncodedOrigin.BottomRight => (W - 1 - x, H - 1 - y),
                    SKEncodedOrigin.BottomLeft => (x, H - 1 - y),
                    SKEncodedOrigin.LeftTop => (y, x),
                    SKEncodedOrigin.RightTop => (H - 1 - y, x),
                    SKEncodedOrigin.RightBottom => (H - 1 - y, W - 1 - x),
                    SKEncodedOrigin.LeftBottom => (y, W - 1 - x),
                    _ => throw new ArgumentOutOfRangeException(nameof(origin)),
                };
                Assert.That(upright.GetPixel(dx, dy), Is.EqualTo(stored.GetPixel(x, y)), $"stored ({x},{y}) → displayed ({dx},{dy})");
            }
    }

    [Test]
    public void TransparentPng_IsCompositedOverBlack_AndOpaque()
    {
        using var bitmap = new SKBitmap(new SKImageInfo(4, 4, SKColorType.Bgra8888, SKAlphaType.Unpremul));
        bitmap.Erase(new SKColor(255, 255, 255, 0));
        var path = FaceImages.Save(bitmap, "transparent.png");

        using var photo = Photo.Load(path);

        Assert.That(photo.Bitmap.AlphaType, Is.EqualTo(SKAlphaType.Opaque));
        Assert.That(photo.Pixels.ToArray().Where((_, i) => i % 4 == 3), Is.All.EqualTo((byte)255));
    }
}

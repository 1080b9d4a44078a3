using FacialExpression.Data;
using FacialExpression.Tests.Faces;
using Microsoft.ML.Data;
using SkiaSharp;

namespace FacialExpression.Tests.Data;

/// <summary>
/// How the model's input images are decoded: upright by their EXIF orientation, and large JPEGs at a reduced scale
/// that leaves the network's input pixels as they would be from the full-size image.
/// </summary>
public sealed class ImageDecodingTests
{
    private static readonly ImagePreprocessor Pre = ImagePreprocessor.Create(48, 0);

    [Test]
    public void ExifRotatedFaceCrop_GivesTheModelTheUprightPixels()
    {
        using var photo = FaceImages.Astronaut();
        var face = FaceImages.AstronautFace;
        using var upright = new SKBitmap(new SKImageInfo(face.Width, face.Height, SKColorType.Bgra8888, SKAlphaType.Opaque));
        Assert.That(photo.ExtractSubset(upright, new SKRectI(face.X, face.Y, face.X + face.Width, face.Y + face.Height)), Is.True);
        using var uprightCopy = upright.Copy();
        // Stored turned 90° counter-clockwise, tagged "rotate 90° clockwise to display" (orientation 6).
        using var stored = FaceImages.Transform(uprightCopy, face.Height, face.Width, new SKMatrix(0, 1, 0, -1, 0, face.Width, 0, 0, 1));
        var folder = TestData.NewFolder("exif-crop");
        var tagged = Path.Combine(folder, "tagged.jpg");
        File.WriteAllBytes(tagged, FaceImages.JpegWithOrientation(stored, 6));
        var reference = FaceImages.Save(uprightCopy, "upright.jpg", SKEncodedImageFormat.Jpeg);
        var untagged = FaceImages.Save(stored, "untagged.jpg", SKEncodedImageFormat.Jpeg);

        Assert.That(MeanAbsoluteDifference(InputPixels(tagged), InputPixels(reference)), Is.LessThan(0.02),
            "the tagged crop reaches the network upright");
        Assert.That(MeanAbsoluteDifference(InputPixels(untagged), InputPixels(reference)), Is.GreaterThan(0.05),
            "control: the same stored pixels without the tag are not upright");

        using var model = ExpressionModel.LoadPretrained();
        var fromTagged = model.Predict(tagged);
        var fromReference = model.Predict(reference);
        Assert.That(fromTagged.Label, Is.EqualTo(fromReference.Label));
        foreach (var label in model.Labels)
            Assert.That(fromTagged.Scores[label], Is.EqualTo(fromReference.Scores[label]).Within(0.05), label);
    }

    [Test]
    public void LargeJpeg_IsDecodedAtReducedScale_WithTheSameNetworkInput()
    {
        using var photo = FaceImages.Astronaut();
        using var large = FaceImages.Resized(photo, 2048, 1536);
        var path = FaceImages.Save(large, "large.jpg", SKEncodedImageFormat.Jpeg);

        using var reduced = Photo.Load(path, ImageDecoder.MinSide(48));
        Assert.That((reduced.Width, reduced.Height), Is.EqualTo((256, 192)), "1/8 scale keeps both sides ≥ 4 × 48");

        using var full = Photo.Load(path);
        using var fromReduced = reduced.ToModelInput(48);
        using var fromFull = full.ToModelInput(48);
        Assert.That(MeanAbsoluteDifference(Pre.ToPixels([fromReduced]), Pre.ToPixels([fromFull])), Is.LessThan(0.01),
            "the network sees about what the full-size decode gives");
    }

    [TestCase(96)]
    [TestCase(97)]
    [TestCase(121)]
    [TestCase(191)]
    [TestCase(385)]
    public void FineDetail_IsAveragedWhenShrunk_NotPointSampled(int side)
    {
        // A one-pixel checkerboard: an averaging shrink by 2× or more gives mid-grey; sampling the nearest pixel gives
        // black or white.
        var gray = new byte[side * side];
        for (int y = 0; y < side; y++)
            for (int x = 0; x < side; x++) gray[y * side + x] = (byte)(((x + y) & 1) == 0 ? 255 : 0);
        using var bitmap = new SKBitmap(new SKImageInfo(side, side, SKColorType.Bgra8888, SKAlphaType.Opaque));
        for (int y = 0; y < side; y++)
            for (int x = 0; x < side; x++) bitmap.SetPixel(x, y, new SKColor(gray[y * side + x], gray[y * side + x], gray[y * side + x]));
        var path = FaceImages.Save(bitmap, $"checkerboard{side}.png");

        using var fromFile = ImageDecoder.Decode(path, 48);
        using var fromPixels = ImagePreprocessor.FromGray(gray, side, side, 48);

        foreach (var input in new[] { Pre.ToPixels([fromFile]), Pre.ToPixels([fromPixels]) })
            Assert.That(input, Is.All.InRange(0.45f, 0.55f));
    }

    [TestCase(1, 1)]
    [TestCase(1, 300)]
    [TestCase(300, 1)]
    [TestCase(30, 20)]
    [TestCase(49, 47)]
    [TestCase(200, 40)]
    public void AnyShape_BecomesTheInputSize_AndAFlatImageStaysFlat(int width, int height)
    {
        var gray = Enumerable.Repeat((byte)77, width * height).ToArray();

        using var image = ImagePreprocessor.FromGray(gray, width, height, 48);

        Assert.That((image.Width, image.Height), Is.EqualTo((48, 48)));
        Assert.That(Pre.ToPixels([image]), Is.All.EqualTo(77 / 255f).Within(1.01f / 255));
    }

    [Test]
    public void SmallJpeg_IsDecodedAtFullSize()
    {
        using var photo = FaceImages.Astronaut();
        using var small = FaceImages.Resized(photo, 300, 300);
        var path = FaceImages.Save(small, "small.jpg", SKEncodedImageFormat.Jpeg);

        using var decoded = Photo.Load(path, ImageDecoder.MinSide(48));

        Assert.That((decoded.Width, decoded.Height), Is.EqualTo((300, 300)), "half scale (150 px) would be under 4 × 48");
    }

    [Test]
    public void LargeExifRotatedJpeg_IsReducedAndUpright()
    {
        using var photo = FaceImages.Astronaut();
        using var large = FaceImages.Resized(photo, 2048, 1536);
        var path = Path.Combine(TestData.NewFolder("exif-large"), "tagged.jpg");
        File.WriteAllBytes(path, FaceImages.JpegWithOrientation(large, 6)); // displayed 1536 wide, 2048 high

        using var decoded = Photo.Load(path, ImageDecoder.MinSide(48));

        Assert.That((decoded.Width, decoded.Height), Is.EqualTo((192, 256)));
        Assert.That((decoded.SourceSize.Width, decoded.SourceSize.Height), Is.EqualTo((1536, 2048)));
    }

    [Test]
    public void JpegOverTheSizeLimit_IsRefusedFromItsHeader_EvenWhereAReducedDecodeWouldFit()
    {
        using var small = FaceImages.Solid(16, 16, SKColors.Gray);
        using var data = small.Encode(SKEncodedImageFormat.Jpeg, 90);
        var jpeg = data.ToArray();
        int sof = FindMarker(jpeg, 0xC0);
        // Frame header: FF C0, length (2), precision (1), height (2), width (2). Claim 20,000 × 20,000 (400 MP).
        jpeg[sof + 5] = 20000 >> 8; jpeg[sof + 6] = 20000 & 0xFF;
        jpeg[sof + 7] = 20000 >> 8; jpeg[sof + 8] = 20000 & 0xFF;
        var path = Path.Combine(TestData.NewFolder("huge"), "huge.jpg");
        File.WriteAllBytes(path, jpeg);

        var e = Assert.Throws<DatasetException>(() => ImageDecoder.Decode(path, 48));
        Assert.That(e!.Message, Does.Contain("20000×20000").And.Contain("256 megapixels"));
    }

    [Test]
    public void InvalidPathInADataset_IsSkippedLikeAnUnreadableFile()
    {
        var images = TestData.SomeTestImages(1);

        var (_, readable) = DatasetReader.DecodeToPixels(["", images[0]], Pre, "test paths");

        Assert.That(readable, Is.EqualTo(new[] { false, true }));
    }

    [Test]
    public void JpegCutOffBeforeItsImageData_IsRefusedAsTruncated_ButACutInTheMiddleKeepsTheDecodedRows()
    {
        using var photo = FaceImages.Astronaut();
        using var face = FaceImages.Resized(photo, 96, 96);
        using var data = face.Encode(SKEncodedImageFormat.Jpeg, 90);
        var jpeg = data.ToArray();
        int startOfScan = FindMarker(jpeg, 0xDA);
        int scanStart = startOfScan + 2 + (jpeg[startOfScan + 2] << 8 | jpeg[startOfScan + 3]); // after the SOS header
        var folder = TestData.NewFolder("truncated");

        var headerOnly = Path.Combine(folder, "header-only.jpg");
        File.WriteAllBytes(headerOnly, jpeg[..scanStart]);
        var e = Assert.Throws<DatasetException>(() => Photo.Load(headerOnly).Dispose());
        Assert.That(e!.Message, Does.Contain(headerOnly).And.Contain("truncated, and what could be decoded is blank"));
        var (_, readable) = DatasetReader.DecodeToPixels([headerOnly], Pre, "truncated");
        Assert.That(readable, Is.EqualTo(new[] { false }), "a dataset skips it like any unreadable file, instead of training on a blank image");

        var half = Path.Combine(folder, "half.jpg");
        File.WriteAllBytes(half, jpeg[..(scanStart + (jpeg.Length - scanStart) / 2)]);
        using var partial = Photo.Load(half);
        var whole = Path.Combine(folder, "whole.jpg");
        File.WriteAllBytes(whole, jpeg);
        Assert.That(MeanAbsoluteDifference(TopRows(half), TopRows(whole)), Is.LessThan(0.01),
            "a file cut in its image data is accepted with the rows it has, like browsers show it");
    }

    private static float[] TopRows(string path) => InputPixels(path)[..(Pre.ImageSize * 8)];

    private static int FindMarker(byte[] jpeg, byte marker)
    {
        for (int i = 2; i + 1 < jpeg.Length; i++)
            if (jpeg[i] == 0xFF && jpeg[i + 1] == marker) return i;
        throw new AssertionException($"No FF {marker:X2} marker in the JPEG.");
    }

    private static float[] InputPixels(string path)
    {
        using var image = ImageDecoder.Decode(path, Pre.ImageSize);
        return Pre.ToPixels([image]);
    }

    private static double MeanAbsoluteDifference(float[] a, float[] b)
    {
        Assert.That(a, Has.Length.EqualTo(b.Length));
        return a.Zip(b, (x, y) => (double)Math.Abs(x - y)).Average();
    }
}

using FacialExpression.Data;
using FacialExpression.Faces;
using SkiaSharp;

namespace FacialExpression.Tests.Faces;

public sealed class FaceCropTests
{
    [TestCase(-1500, -1500, 3500)] // far beyond every edge: mostly repeated edge pixels
    [TestCase(100, -900, 1200)]    // past the top and right edges
    public void RegionFarBeyondThePhoto_IsShrunkBeforePadding_WithAboutTheSamePixels(int left, int top, int side)
    {
        Assume.That(OpenCvRuntime.IsAvailable, "the padded-crop path is OpenCV's");
        using var photo = Photo.Load(FaceImages.AstronautPath);
        var region = new SKRectI(left, top, left + side, top + side);

        using var direct = PhotoOps.CropSquare(photo, region, 48, maxPaddedSide: int.MaxValue);
        using var shrunkFirst = PhotoOps.CropSquare(photo, region, 48, maxPaddedSide: 0);

        var a = direct.Pixels.ToArray();
        var b = shrunkFirst.Pixels.ToArray();
        Assert.That(b, Has.Length.EqualTo(a.Length));
        double mean = a.Zip(b, (x, y) => (double)Math.Abs(x - y)).Average();
        Assert.That(mean, Is.LessThan(2.0), "mean difference on the 0–255 scale");
        Assert.That(a.Distinct().Count(), Is.GreaterThan(10), "control: the crop holds part of the photo, not one colour");
    }
}

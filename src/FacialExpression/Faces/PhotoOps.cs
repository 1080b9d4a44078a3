using FacialExpression.Data;
using Microsoft.ML.Data;
using OpenCvSharp;
using SkiaSharp;

namespace FacialExpression.Faces;

/// <summary>
/// Resampling for detection and cropping. OpenCV's area interpolation is used when its native library loads (it is
/// an order of magnitude faster than SkiaSharp's mipmapped resampling here and averages properly when shrinking);
/// otherwise, for custom detectors on platforms without OpenCvSharp's runtime, SkiaSharp's linear filter.
/// </summary>
internal static class PhotoOps
{
    private static readonly SKSamplingOptions Linear = new(SKFilterMode.Linear);

    /// <summary>A <paramref name="width"/> × <paramref name="height"/> copy of the photo as tightly packed BGRA bytes.</summary>
    public static byte[] Downscale(Photo photo, int width, int height)
    {
        var result = new byte[width * height * 4];
        if (OpenCvRuntime.IsAvailable)
        {
            using var source = Wrap(photo);
            using var target = new Mat(height, width, MatType.CV_8UC4);
            Cv2.Resize(source, target, new Size(width, height), 0, 0, InterpolationFlags.Area);
            target.AsSpan<byte>().CopyTo(result);
            return result;
        }
        using var small = photo.Bitmap.Resize(new SKImageInfo(width, height, SKColorType.Bgra8888, SKAlphaType.Opaque), Linear)
            ?? throw new InvalidOperationException($"SkiaSharp could not downscale '{photo.Description}' to {width}×{height} for detection.");
        small.GetPixelSpan().CopyTo(result);
        return result;
    }

    /// <summary>
    /// Cuts the square <paramref name="region"/> (photo pixels; may reach beyond the photo, whose edge pixels are then
    /// repeated) and resamples it to <paramref name="size"/>², returning an image for the model's preprocessing.
    /// </summary>
    public static MLImage CropSquare(Photo photo, SKRectI region, int size)
    {
        if (!OpenCvRuntime.IsAvailable) return CropSquareSkia(photo, region, size);
        using var source = Wrap(photo);
        // The part of the region inside the photo, then the edges repeated for the part outside.
        int x0 = Math.Clamp(region.Left, 0, photo.Width - 1), y0 = Math.Clamp(region.Top, 0, photo.Height - 1);
        int x1 = Math.Clamp(region.Right, x0 + 1, photo.Width), y1 = Math.Clamp(region.Bottom, y0 + 1, photo.Height);
        using var inside = new Mat(source, new Rect(x0, y0, x1 - x0, y1 - y0));
        using var padded = new Mat();
        Cv2.CopyMakeBorder(inside, padded, Math.Max(0, y0 - region.Top), Math.Max(0, region.Bottom - y1),
            Math.Max(0, x0 - region.Left), Math.Max(0, region.Right - x1), BorderTypes.Replicate);
        using var target = new Mat(size, size, MatType.CV_8UC4);
        Cv2.Resize(padded, target, new Size(size, size), 0, 0, padded.Width >= size ? InterpolationFlags.Area : InterpolationFlags.Linear);
        return MLImage.CreateFromPixels(size, size, MLPixelFormat.Bgra32, target.AsSpan<byte>());
    }

    private static MLImage CropSquareSkia(Photo photo, SKRectI region, int size)
    {
        using var image = SKImage.FromBitmap(photo.Bitmap);
        using var target = new SKBitmap(new SKImageInfo(size, size, SKColorType.Bgra8888, SKAlphaType.Opaque));
        using var canvas = new SKCanvas(target);
        float scale = size / (float)region.Width;
        var matrix = SKMatrix.CreateScaleTranslation(scale, scale, -region.Left * scale, -region.Top * scale);
        using var shader = SKShader.CreateImage(image, SKShaderTileMode.Clamp, SKShaderTileMode.Clamp, Linear, matrix);
        using var paint = new SKPaint { Shader = shader };
        canvas.DrawRect(0, 0, size, size, paint);
        canvas.Flush();
        return MLImage.CreateFromPixels(size, size, MLPixelFormat.Bgra32, target.GetPixelSpan());
    }

    /// <summary>A Mat over the photo's pixels (no copy); valid while the photo is.</summary>
    private static Mat Wrap(Photo photo) =>
        Mat.FromPixelData(photo.Height, photo.Width, MatType.CV_8UC4, photo.Bitmap.GetPixels(), photo.Bitmap.RowBytes);
}

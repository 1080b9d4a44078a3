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
    /// The largest region side (64 MiB of BGRA pixels) whose part beyond the photo is made at full resolution before
    /// resampling. A larger region that reaches beyond the photo (a big face near an edge, or a wide
    /// <see cref="FaceDetectionOptions.CropMargin"/>) is shrunk first, so a face box as large as a 16,000-pixel photo with
    /// a margin of 1 does not need a 9 GB padded copy.
    /// </summary>
    public const int MaxPaddedSide = 4096;

    /// <summary>
    /// Cuts the square <paramref name="region"/> (photo pixels; may reach beyond the photo, whose edge pixels are then
    /// repeated) and resamples it to <paramref name="size"/>², returning an image for the model's preprocessing.
    /// </summary>
    public static MLImage CropSquare(Photo photo, SKRectI region, int size, int maxPaddedSide = MaxPaddedSide)
    {
        if (!OpenCvRuntime.IsAvailable) return CropSquareSkia(photo, region, size);
        using var source = Wrap(photo);
        // The part of the region inside the photo, then the edges repeated for the part outside.
        int x0 = Math.Clamp(region.Left, 0, photo.Width - 1), y0 = Math.Clamp(region.Top, 0, photo.Height - 1);
        int x1 = Math.Clamp(region.Right, x0 + 1, photo.Width), y1 = Math.Clamp(region.Bottom, y0 + 1, photo.Height);
        int top = Math.Max(0, y0 - region.Top), bottom = Math.Max(0, region.Bottom - y1);
        int left = Math.Max(0, x0 - region.Left), right = Math.Max(0, region.Right - x1);
        using var inside = new Mat(source, new Rect(x0, y0, x1 - x0, y1 - y0));
        using var target = new Mat(size, size, MatType.CV_8UC4);
        if (top + bottom + left + right == 0)
        {
            Cv2.Resize(inside, target, new Size(size, size), 0, 0, inside.Width >= size ? InterpolationFlags.Area : InterpolationFlags.Linear);
        }
        else
        {
            using var padded = region.Width > maxPaddedSide && region.Width > 4 * size
                ? ShrunkAndPadded(inside, 4 * size, 4 * size / (double)region.Width, left, top)
                : new Mat();
            if (padded.Empty()) Cv2.CopyMakeBorder(inside, padded, top, bottom, left, right, BorderTypes.Replicate);
            Cv2.Resize(padded, target, new Size(size, size), 0, 0, padded.Width >= size ? InterpolationFlags.Area : InterpolationFlags.Linear);
        }
        return MLImage.CreateFromPixels(size, size, MLPixelFormat.Bgra32, target.AsSpan<byte>());
    }

    /// <summary>
    /// What padding <paramref name="inside"/> with <paramref name="left"/> and <paramref name="top"/> repeated edge pixels
    /// (and whatever else fills a square) and shrinking it by <paramref name="scale"/> gives, made at the small size: the
    /// inside part is shrunk, each border repeats the photo's edge line shrunk along its length only, and each corner
    /// is the photo's corner pixel — as a full-resolution replicated border would be, without ever being that big.
    /// </summary>
    private static Mat ShrunkAndPadded(Mat inside, int side, double scale, int left, int top)
    {
        int w = Math.Clamp((int)Math.Round(inside.Width * scale), 1, side), h = Math.Clamp((int)Math.Round(inside.Height * scale), 1, side);
        int l = Math.Min(side - w, (int)Math.Round(left * scale)), t = Math.Min(side - h, (int)Math.Round(top * scale));
        int r = side - w - l, b = side - h - t;
        var padded = new Mat(side, side, MatType.CV_8UC4);
        try
        {
            using (var roi = padded[new Rect(l, t, w, h)]) Cv2.Resize(inside, roi, new Size(w, h), 0, 0, InterpolationFlags.Area);
            Edge(inside.Row(0), new Rect(l, 0, w, t));
            Edge(inside.Row(inside.Height - 1), new Rect(l, t + h, w, b));
            Edge(inside.Col(0), new Rect(0, t, l, h));
            Edge(inside.Col(inside.Width - 1), new Rect(l + w, t, r, h));
            Corner(0, 0, new Rect(0, 0, l, t));
            Corner(0, inside.Width - 1, new Rect(l + w, 0, r, t));
            Corner(inside.Height - 1, 0, new Rect(0, t + h, l, b));
            Corner(inside.Height - 1, inside.Width - 1, new Rect(l + w, t + h, r, b));
            return padded;
        }
        catch
        {
            padded.Dispose();
            throw;
        }

        void Edge(Mat line, Rect area)
        {
            using (line)
            {
                if (area.Width == 0 || area.Height == 0) return;
                bool row = line.Height == 1;
                using var shrunk = new Mat();
                Cv2.Resize(line, shrunk, row ? new Size(area.Width, 1) : new Size(1, area.Height), 0, 0, InterpolationFlags.Area);
                using var roi = padded[area];
                Cv2.Repeat(shrunk, row ? area.Height : 1, row ? 1 : area.Width, roi);
            }
        }

        void Corner(int y, int x, Rect area)
        {
            if (area.Width == 0 || area.Height == 0) return;
            var pixel = inside.At<Vec4b>(y, x);
            using var roi = padded[area];
            roi.SetTo(new Scalar(pixel.Item0, pixel.Item1, pixel.Item2, pixel.Item3));
        }
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

using Microsoft.ML.Data;
using SkiaSharp;

namespace FacialExpression.Faces;

/// <summary>
/// Cuts a face out of a photo the way FER2013 frames its faces: a square centred on the detected box, grown by a
/// margin, resampled (with mipmaps, so large faces are properly averaged) straight to the model's input size. Parts of
/// the square beyond the photo repeat the photo's edge pixels.
/// </summary>
internal static class FaceCropper
{
    private static readonly SKSamplingOptions Sampling = new(SKFilterMode.Linear, SKMipmapMode.Linear);

    /// <summary>The square region, in photo pixels, that is cropped for <paramref name="box"/>.</summary>
    public static SKRect Region(FaceBox box, double margin)
    {
        double side = Math.Max(box.Width, box.Height) * (1 + 2 * margin);
        double cx = box.X + box.Width / 2.0, cy = box.Y + box.Height / 2.0;
        return new SKRect((float)(cx - side / 2), (float)(cy - side / 2), (float)(cx + side / 2), (float)(cy + side / 2));
    }

    /// <summary>Crops every box from the photo as <paramref name="size"/>² images ready for the model's preprocessing.</summary>
    public static MLImage[] Crop(Photo photo, IReadOnlyList<FaceBox> boxes, double margin, int size)
    {
        var crops = new MLImage[boxes.Count];
        if (boxes.Count == 0) return crops;
        using var image = SKImage.FromBitmap(photo.Bitmap);
        using var target = new SKBitmap(new SKImageInfo(size, size, SKColorType.Bgra8888, SKAlphaType.Opaque));
        using var canvas = new SKCanvas(target);
        using var paint = new SKPaint { IsAntialias = false };
        try
        {
            for (int i = 0; i < boxes.Count; i++)
            {
                var region = Region(boxes[i], margin);
                float scale = size / region.Width;
                var matrix = SKMatrix.CreateScaleTranslation(scale, scale, -region.Left * scale, -region.Top * scale);
                using var shader = SKShader.CreateImage(image, SKShaderTileMode.Clamp, SKShaderTileMode.Clamp, Sampling, matrix);
                paint.Shader = shader;
                canvas.DrawRect(0, 0, size, size, paint);
                canvas.Flush();
                paint.Shader = null;
                crops[i] = MLImage.CreateFromPixels(size, size, MLPixelFormat.Bgra32, target.GetPixelSpan());
            }
            return crops;
        }
        catch
        {
            foreach (var c in crops) c?.Dispose();
            throw;
        }
    }
}

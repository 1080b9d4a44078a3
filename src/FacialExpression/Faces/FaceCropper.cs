using FacialExpression.Data;
using Microsoft.ML.Data;
using SkiaSharp;

namespace FacialExpression.Faces;

/// <summary>
/// Cuts a face out of a photo the way FER2013 frames its faces: the square centred on the detected box, grown by a
/// margin, resampled straight to the model's input size. Parts of the square beyond the photo repeat its edge pixels.
/// </summary>
internal static class FaceCropper
{
    /// <summary>The square region, in photo pixels, that is cropped for <paramref name="box"/>.</summary>
    public static SKRectI Region(FaceBox box, double margin)
    {
        int side = Math.Max(1, (int)Math.Round(Math.Max(box.Width, box.Height) * (1 + 2 * margin)));
        int left = (int)Math.Round(box.X + box.Width / 2.0 - side / 2.0);
        int top = (int)Math.Round(box.Y + box.Height / 2.0 - side / 2.0);
        return new SKRectI(left, top, left + side, top + side);
    }

    /// <summary>Crops every box from the photo as <paramref name="size"/>² images ready for the model's preprocessing.</summary>
    public static MLImage[] Crop(Photo photo, IReadOnlyList<FaceBox> boxes, double margin, int size)
    {
        var crops = new MLImage[boxes.Count];
        try
        {
            for (int i = 0; i < boxes.Count; i++) crops[i] = PhotoOps.CropSquare(photo, Region(boxes[i], margin), size);
            return crops;
        }
        catch
        {
            foreach (var c in crops) c?.Dispose();
            throw;
        }
    }
}

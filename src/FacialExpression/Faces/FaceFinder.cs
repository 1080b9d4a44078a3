using FacialExpression.Data;

namespace FacialExpression.Faces;

/// <summary>Runs a detector on a (downscaled) copy of a photo and maps its boxes back to the photo's pixels.</summary>
internal static class FaceFinder
{
    /// <summary>The faces in <paramref name="photo"/>, in photo pixels, ordered left to right (then top to bottom).</summary>
    public static List<DetectedFace> Find(Photo photo, FaceDetectionOptions options)
    {
        if (options.InputIsFaceCrop)
            return [new DetectedFace(new FaceBox(0, 0, photo.SourceSize.Width, photo.SourceSize.Height), 1f)];
        var detector = options.Detector ?? CascadeFaceDetector.Shared;
        int shorter = Math.Min(photo.Width, photo.Height);
        IReadOnlyList<DetectedFace> found;
        double sx = 1, sy = 1;
        if (options.DetectionSize == 0 || shorter <= options.DetectionSize)
        {
            found = detector.Detect(photo.Pixels, photo.Width, photo.Height);
        }
        else
        {
            double k = (double)options.DetectionSize / shorter;
            int w = Math.Max(1, (int)Math.Round(photo.Width * k)), h = Math.Max(1, (int)Math.Round(photo.Height * k));
            var small = PhotoOps.Downscale(photo, w, h);
            found = detector.Detect(small, w, h);
            sx = (double)photo.Width / w;
            sy = (double)photo.Height / h;
        }
        return MapAndOrder(found, sx, sy, photo.Width, photo.Height, options.MinConfidence);
    }

    /// <summary>Scales boxes to the photo, clips them to it, drops empty or low-confidence ones and orders them left to right.</summary>
    internal static List<DetectedFace> MapAndOrder(IReadOnlyList<DetectedFace>? found, double sx, double sy, int width, int height, double minConfidence)
    {
        var result = new List<DetectedFace>(found?.Count ?? 0);
        if (found is null) return result;
        foreach (var f in found)
        {
            if (float.IsNaN(f.Confidence) || f.Confidence < minConfidence) continue;
            var b = f.Box;
            int x0 = Math.Clamp((int)Math.Floor(b.X * sx), 0, width), y0 = Math.Clamp((int)Math.Floor(b.Y * sy), 0, height);
            int x1 = Math.Clamp((int)Math.Ceiling((b.X + (double)b.Width) * sx), 0, width);
            int y1 = Math.Clamp((int)Math.Ceiling((b.Y + (double)b.Height) * sy), 0, height);
            if (x1 <= x0 || y1 <= y0) continue;
            result.Add(new DetectedFace(new FaceBox(x0, y0, x1 - x0, y1 - y0), Math.Clamp(f.Confidence, 0f, 1f)));
        }
        result.Sort((a, b) => a.Box.X != b.Box.X ? a.Box.X.CompareTo(b.Box.X) : a.Box.Y.CompareTo(b.Box.Y));
        return result;
    }
}

using System.Globalization;

namespace FacialExpression;

/// <summary>
/// An axis-aligned rectangle in an image's pixel coordinates: origin at the top-left corner of the image as it is
/// displayed (after its EXIF orientation is applied), <see cref="X"/> to the right, <see cref="Y"/> down.
/// </summary>
/// <param name="X">Left edge, in pixels from the image's left side.</param>
/// <param name="Y">Top edge, in pixels from the image's top side.</param>
/// <param name="Width">Width in pixels.</param>
/// <param name="Height">Height in pixels.</param>
public readonly record struct FaceBox(int X, int Y, int Width, int Height)
{
    /// <summary>The right edge, <see cref="X"/> + <see cref="Width"/> (exclusive).</summary>
    public int Right => X + Width;

    /// <summary>The bottom edge, <see cref="Y"/> + <see cref="Height"/> (exclusive).</summary>
    public int Bottom => Y + Height;

    /// <summary>Area in square pixels.</summary>
    public long Area => (long)Width * Height;

    /// <summary>Intersection over union with another box: 0 when they do not overlap, 1 when they are identical.</summary>
    /// <param name="other">The other box.</param>
    /// <returns>The overlap ratio between 0 and 1.</returns>
    public double IntersectionOverUnion(FaceBox other)
    {
        long w = Math.Min(Right, other.Right) - Math.Max(X, other.X);
        long h = Math.Min(Bottom, other.Bottom) - Math.Max(Y, other.Y);
        if (w <= 0 || h <= 0) return 0;
        double inter = w * h;
        return inter / (Area + other.Area - inter);
    }

    /// <inheritdoc />
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"x={X} y={Y} {Width}×{Height}");
}

/// <summary>A face found by an <see cref="IFaceDetector"/>.</summary>
/// <param name="Box">Where the face is, in the pixel coordinates of the image given to the detector.</param>
/// <param name="Confidence">The detector's confidence that this is a face, between 0 and 1 (its meaning depends on the detector).</param>
public readonly record struct DetectedFace(FaceBox Box, float Confidence);

/// <summary>One face found in a photo and the expression predicted for it.</summary>
/// <param name="Box">Where the face is, in the source image's pixels (after EXIF orientation).</param>
/// <param name="Confidence">The face detector's confidence, between 0 and 1 (1 for <see cref="FaceDetectionOptions.InputIsFaceCrop"/>).</param>
/// <param name="Prediction">The predicted expression of the face.</param>
public sealed record FaceExpression(FaceBox Box, float Confidence, ExpressionPrediction Prediction)
{
    /// <inheritdoc />
    public override string ToString() => $"{Box}: {Prediction}";
}

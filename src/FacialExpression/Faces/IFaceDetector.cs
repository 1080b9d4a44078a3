namespace FacialExpression;

/// <summary>
/// Finds faces in an upright image. Implement it to plug another detector into
/// <see cref="ExpressionModel.PredictFaces(string, FaceDetectionOptions)"/> through
/// <see cref="FaceDetectionOptions.Detector"/>; the built-in one is <see cref="CascadeFaceDetector"/>.
/// </summary>
/// <remarks>
/// The image handed to <see cref="Detect"/> has its EXIF orientation applied and has been downscaled so that its
/// shorter side is at most <see cref="FaceDetectionOptions.DetectionSize"/>; the returned boxes are mapped back to the
/// source image by the caller. Implementations used from several threads at once must be thread-safe.
/// </remarks>
public interface IFaceDetector
{
    /// <summary>Finds the faces in an image.</summary>
    /// <param name="bgraPixels">
    /// <paramref name="width"/> × <paramref name="height"/> × 4 bytes: rows top to bottom without padding, each pixel
    /// blue, green, red, alpha (alpha is 255).
    /// </param>
    /// <param name="width">Image width in pixels, at least 1.</param>
    /// <param name="height">Image height in pixels, at least 1.</param>
    /// <returns>
    /// The faces found, in any order, with boxes in the pixel coordinates of this image; an empty list when there is
    /// none. Boxes reaching outside the image are clipped by the caller and empty ones are dropped.
    /// </returns>
    IReadOnlyList<DetectedFace> Detect(ReadOnlySpan<byte> bgraPixels, int width, int height);
}

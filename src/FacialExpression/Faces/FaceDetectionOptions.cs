namespace FacialExpression;

/// <summary>
/// Immutable settings for <see cref="ExpressionModel.PredictFaces(string, FaceDetectionOptions)"/> and
/// <see cref="ExpressionModel.AnnotateFaces(string, string, FaceDetectionOptions)"/>: which detector finds the faces, at
/// what resolution, and how each face is cropped before classification. Every property has a documented default;
/// values are validated on every call and never modified.
/// </summary>
public sealed record FaceDetectionOptions
{
    /// <summary>The settings the overloads without an options argument use.</summary>
    public static FaceDetectionOptions Default { get; } = new();

    /// <summary>
    /// The face detector. Default <c>null</c>: a built-in <see cref="CascadeFaceDetector"/> with default
    /// <see cref="CascadeFaceDetectorOptions"/>, created on first use and shared by all models. A detector given here is
    /// not disposed by the library.
    /// </summary>
    public IFaceDetector? Detector { get; init; }

    /// <summary>
    /// <c>true</c> when the input is already a face crop (like a FER2013 image): detection is skipped and the whole
    /// image is classified as one face, exactly as <see cref="ExpressionModel.Predict(string)"/> classifies it (upright
    /// by its EXIF orientation), with a box covering the image and confidence 1. Default <c>false</c>.
    /// </summary>
    public bool InputIsFaceCrop { get; init; }

    /// <summary>
    /// The shorter side, in pixels, of the copy of the photo the detector searches: photos whose shorter side is
    /// larger are downscaled (keeping their aspect ratio) and the boxes mapped back to the source pixels. Smaller is
    /// faster but misses small faces: <see cref="CascadeFaceDetector"/> needs a face about 40 pixels wide in that copy
    /// to find it reliably, so the default finds faces at least about 1/8 of the photo's shorter side wide (a 64-pixel
    /// face in a 512×512 photo) and misses most below 1/11. For group photos with small faces raise it (640 finds faces
    /// down to about 1/16) or use 0. Default 320; 0 searches the photo at full resolution; otherwise 32 to 16 384.
    /// </summary>
    public int DetectionSize { get; init; } = 320;

    /// <summary>
    /// Margin added on every side of a detected box before the face is cropped and classified, as a fraction of the
    /// box's larger side; the crop is the square centred on the box, and pixels beyond the photo's edge repeat the
    /// edge. FER2013's 48×48 faces are framed almost exactly like <see cref="CascadeFaceDetector"/>'s box (on FER2013
    /// validation faces the box found measures 0.97 of the frame, median, centred), so the default adds none; a
    /// detector with tighter boxes (eyes to mouth) needs about 0.15 to 0.25. Default 0; 0 to 1.
    /// </summary>
    public double CropMargin { get; init; }

    /// <summary>Faces whose detector confidence is below this are dropped. Default 0 (keep every face found); 0 to 1.</summary>
    public double MinConfidence { get; init; }

    internal void Validate()
    {
        if (DetectionSize != 0 && (DetectionSize < 32 || DetectionSize > 16384))
            throw new ArgumentOutOfRangeException(nameof(DetectionSize), DetectionSize, $"{nameof(DetectionSize)} must be 0 (full resolution) or between 32 and 16384; it was {DetectionSize}.");
        Guard.InRange(CropMargin, 0, 1, nameof(CropMargin));
        Guard.InRange(MinConfidence, 0, 1, nameof(MinConfidence));
    }
}

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
    /// image is classified as one face, exactly as <see cref="ExpressionModel.Predict(string)"/> does, with a box
    /// covering the image and confidence 1. Default <c>false</c>.
    /// </summary>
    public bool InputIsFaceCrop { get; init; }

    /// <summary>
    /// The longest side, in pixels, of the copy of the photo the detector searches: larger photos are downscaled
    /// (keeping their aspect ratio) and the boxes mapped back to the source pixels. Smaller values are faster but miss
    /// small faces: a face must be about 24 pixels wide in that copy for <see cref="CascadeFaceDetector"/> to find it,
    /// so with the default a face narrower than about 1/13 of the photo's longer side is missed. Default 320; 0 searches
    /// the photo at full resolution; otherwise 32 to 16 384.
    /// </summary>
    public int DetectionSize { get; init; } = 320;

    /// <summary>
    /// Margin added on every side of a detected box before it is cropped and classified, as a fraction of the box's
    /// larger side. The default frames a <see cref="CascadeFaceDetector"/> box the way FER2013's 48×48 faces are framed
    /// (the crop is square and centred on the box; pixels beyond the photo's edge repeat the edge). Default 0.1; 0 to 1.
    /// </summary>
    public double CropMargin { get; init; } = 0.1;

    /// <summary>Faces whose detector confidence is below this are dropped. Default 0 (keep every face found); 0 to 1.</summary>
    public double MinConfidence { get; init; }

    internal void Validate()
    {
        if (DetectionSize != 0) Guard.InRange(DetectionSize, 32, 16384, nameof(DetectionSize));
        Guard.InRange(CropMargin, 0, 1, nameof(CropMargin));
        Guard.InRange(MinConfidence, 0, 1, nameof(MinConfidence));
    }
}

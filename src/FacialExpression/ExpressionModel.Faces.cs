using FacialExpression.Data;
using FacialExpression.Faces;
using Microsoft.ML.Data;

namespace FacialExpression;

public sealed partial class ExpressionModel
{
    /// <summary>
    /// Finds every face in a photo and predicts each one's expression, with the default
    /// <see cref="FaceDetectionOptions"/> (the built-in <see cref="CascadeFaceDetector"/>, searching a copy downscaled
    /// to 320 pixels on its shorter side).
    /// </summary>
    /// <param name="imagePath">A JPEG, PNG, BMP, GIF, WebP or ICO file; its EXIF orientation is honoured.</param>
    /// <returns>One entry per face, ordered left to right (ties top to bottom); empty when no face is found.</returns>
    /// <exception cref="ArgumentException"><paramref name="imagePath"/> is null or empty.</exception>
    /// <exception cref="DatasetException">The file does not exist or is not a readable image (its path is in the message and in <see cref="DatasetException.Path"/>).</exception>
    /// <exception cref="NativeRuntimeException">OpenCV's native library (the built-in detector) or libtorch cannot be loaded.</exception>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public IReadOnlyList<FaceExpression> PredictFaces(string imagePath) => PredictFaces(imagePath, FaceDetectionOptions.Default);

    /// <summary>Finds every face in a photo and predicts each one's expression.</summary>
    /// <param name="imagePath">A JPEG, PNG, BMP, GIF, WebP or ICO file; its EXIF orientation is honoured.</param>
    /// <param name="options">Detector, detection resolution, crop margin, or the face-crop mode; not modified.</param>
    /// <returns>One entry per face, ordered left to right (ties top to bottom); empty when no face is found.</returns>
    /// <exception cref="ArgumentException"><paramref name="imagePath"/> is null or empty.</exception>
    /// <exception cref="DatasetException">The file does not exist or is not a readable image.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its documented range.</exception>
    /// <exception cref="NativeRuntimeException">OpenCV's native library (the built-in detector) or libtorch cannot be loaded.</exception>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public IReadOnlyList<FaceExpression> PredictFaces(string imagePath, FaceDetectionOptions options)
    {
        ThrowIfDisposed();
        Guard.NotNullOrEmpty(imagePath, nameof(imagePath));
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        using var photo = Photo.Load(imagePath, DecodeMinSide(options));
        return PredictFaces(photo, options);
    }

    /// <summary>Finds every face in an encoded image read from a stream and predicts each one's expression, with the default <see cref="FaceDetectionOptions"/>.</summary>
    /// <param name="image">A stream holding an encoded JPEG, PNG, BMP, GIF, WebP or ICO image; read to the end, not closed.</param>
    /// <returns>One entry per face, ordered left to right; empty when no face is found.</returns>
    /// <exception cref="ArgumentException"><paramref name="image"/> is not readable.</exception>
    /// <exception cref="DatasetException">The stream does not hold a readable image.</exception>
    /// <exception cref="NativeRuntimeException">OpenCV's native library or libtorch cannot be loaded.</exception>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public IReadOnlyList<FaceExpression> PredictFaces(Stream image) => PredictFaces(image, FaceDetectionOptions.Default);

    /// <summary>Finds every face in an encoded image read from a stream and predicts each one's expression.</summary>
    /// <param name="image">A stream holding an encoded JPEG, PNG, BMP, GIF, WebP or ICO image; read to the end, not closed.</param>
    /// <param name="options">Detector, detection resolution, crop margin, or the face-crop mode; not modified.</param>
    /// <returns>One entry per face, ordered left to right; empty when no face is found.</returns>
    /// <exception cref="ArgumentException"><paramref name="image"/> is not readable.</exception>
    /// <exception cref="DatasetException">The stream does not hold a readable image.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its documented range.</exception>
    /// <exception cref="NativeRuntimeException">OpenCV's native library or libtorch cannot be loaded.</exception>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public IReadOnlyList<FaceExpression> PredictFaces(Stream image, FaceDetectionOptions options)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        using var photo = Photo.Load(image, "stream", DecodeMinSide(options));
        return PredictFaces(photo, options);
    }

    /// <summary>
    /// Finds every face in a photo, predicts its expression, and writes a copy of the photo (upright) with a box and
    /// the top expression drawn for each face. Uses the default <see cref="FaceDetectionOptions"/>.
    /// </summary>
    /// <param name="imagePath">A JPEG, PNG, BMP, GIF, WebP or ICO file; its EXIF orientation is honoured.</param>
    /// <param name="outputPath">The annotated image to write: <c>.png</c>, <c>.jpg</c>/<c>.jpeg</c> or <c>.webp</c>. Written to a temporary file and then renamed, so it is never half-written; replaced if it exists; its folder is created if needed.</param>
    /// <returns>The faces drawn, as <see cref="PredictFaces(string)"/> returns them.</returns>
    /// <exception cref="ArgumentException"><paramref name="outputPath"/> has an unsupported extension, is <paramref name="imagePath"/> itself, or its format cannot hold an image this large (WebP: 16,383 pixels a side), or a path is null or empty.</exception>
    /// <exception cref="DatasetException">The input file does not exist or is not a readable image.</exception>
    /// <exception cref="IOException">The output file cannot be written.</exception>
    /// <exception cref="UnauthorizedAccessException">The output folder is not writable.</exception>
    /// <exception cref="NativeRuntimeException">OpenCV's native library or libtorch cannot be loaded.</exception>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public IReadOnlyList<FaceExpression> AnnotateFaces(string imagePath, string outputPath) =>
        AnnotateFaces(imagePath, outputPath, FaceDetectionOptions.Default);

    /// <summary>
    /// Finds every face in a photo, predicts its expression, and writes a copy of the photo (upright) with a box and
    /// the top expression drawn for each face.
    /// </summary>
    /// <param name="imagePath">A JPEG, PNG, BMP, GIF, WebP or ICO file; its EXIF orientation is honoured.</param>
    /// <param name="outputPath">The annotated image to write: <c>.png</c>, <c>.jpg</c>/<c>.jpeg</c> or <c>.webp</c>. Written to a temporary file and then renamed; replaced if it exists; its folder is created if needed.</param>
    /// <param name="options">Detector, detection resolution, crop margin, or the face-crop mode; not modified.</param>
    /// <returns>The faces drawn, as <see cref="PredictFaces(string, FaceDetectionOptions)"/> returns them.</returns>
    /// <exception cref="ArgumentException"><paramref name="outputPath"/> has an unsupported extension, is <paramref name="imagePath"/> itself, or its format cannot hold an image this large (WebP: 16,383 pixels a side), or a path is null or empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its documented range.</exception>
    /// <exception cref="DatasetException">The input file does not exist or is not a readable image.</exception>
    /// <exception cref="IOException">The output file cannot be written.</exception>
    /// <exception cref="UnauthorizedAccessException">The output folder is not writable.</exception>
    /// <exception cref="NativeRuntimeException">OpenCV's native library or libtorch cannot be loaded.</exception>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public IReadOnlyList<FaceExpression> AnnotateFaces(string imagePath, string outputPath, FaceDetectionOptions options)
    {
        ThrowIfDisposed();
        Guard.NotNullOrEmpty(imagePath, nameof(imagePath));
        Guard.NotNullOrEmpty(outputPath, nameof(outputPath));
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var format = FaceAnnotator.FormatFor(outputPath);
        if (FaceAnnotator.IsSamePath(imagePath, outputPath))
            throw new ArgumentException($"The output path '{Path.GetFullPath(outputPath)}' is the photo itself; the annotated copy would replace the original. Choose another output path.", nameof(outputPath));
        using var photo = Photo.Load(imagePath);
        FaceAnnotator.CheckSize(outputPath, format, photo.Bitmap.Width, photo.Bitmap.Height);
        IReadOnlyList<FaceExpression> faces;
        if (options.InputIsFaceCrop)
        {
            // Classified from the same pixels as Predict(imagePath); drawn on the full-size image.
            using var forModel = Photo.Load(imagePath, DecodeMinSide(options));
            faces = PredictFaces(forModel, options);
        }
        else
        {
            faces = PredictFaces(photo, options);
        }
        FaceAnnotator.Write(photo, faces, Labels, outputPath, format);
        return faces;
    }

    /// <summary>A face crop is decoded as <see cref="Predict(string)"/> decodes it; a photo at full size for the detector.</summary>
    private int DecodeMinSide(FaceDetectionOptions options) => options.InputIsFaceCrop ? ImageDecoder.MinSide(ImageSize) : 0;

    internal IReadOnlyList<FaceExpression> PredictFaces(Photo photo, FaceDetectionOptions options)
    {
        var found = FaceFinder.Find(photo, options);
        if (found.Count == 0) return [];
        var crops = options.InputIsFaceCrop
            ? [photo.ToModelInput(ImageSize)]
            : FaceCropper.Crop(photo, found.Select(f => f.Box).ToArray(), options.CropMargin, ImageSize);
        try
        {
            var predictions = PredictImages(crops);
            var result = new FaceExpression[found.Count];
            for (int i = 0; i < result.Length; i++) result[i] = new FaceExpression(found[i].Box, found[i].Confidence, predictions[i]);
            return result;
        }
        finally
        {
            foreach (var c in crops) c.Dispose();
        }
    }
}

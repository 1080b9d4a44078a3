using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;

namespace FacialExpression.Data;

/// <summary>
/// The ML.NET half of the model: ConvertToGrayscale → ResizeImages → ExtractPixels over decoded images. The fitted
/// transformer is saved inside the model file and reused by every prediction, and decoding and resampling are the
/// same library code for training and prediction, so both see identical pixels. Images are decoded by <see cref="ImageDecoder"/> one file at a time, so that one unreadable file
/// is skipped and reported instead of aborting a whole dataset, and arrive already resampled to the input size
/// (<see cref="Photo.ToModelInput"/>), because ML.NET's resize samples the nearest pixel.
/// </summary>
internal sealed class ImagePreprocessor
{
    /// <summary>The largest image, in pixels, that prediction and photo decoding accept: 256 megapixels.</summary>
    internal const long MaxPixels = 256L * 1024 * 1024;

    internal const string ImageColumn = "Image";
    internal const string PixelsColumn = "Pixels";

    private readonly MLContext _ml;
    private readonly ITransformer _transformer;

    private ImagePreprocessor(MLContext ml, ITransformer transformer, int imageSize)
    {
        _ml = ml;
        _transformer = transformer;
        ImageSize = imageSize;
    }

    public int ImageSize { get; }

    /// <summary>Builds and fits the pipeline for <paramref name="imageSize"/>² single-channel pixels in [0, 1].</summary>
    public static ImagePreprocessor Create(int imageSize, int seed)
    {
        var ml = new MLContext(seed);
        var pipeline = ml.Transforms.ConvertToGrayscale("Gray", ImageColumn)
            .Append(ml.Transforms.ResizeImages("Resized", imageSize, imageSize, "Gray", ImageResizingEstimator.ResizingKind.Fill))
            .Append(ml.Transforms.ExtractPixels(PixelsColumn, "Resized", ImagePixelExtractingEstimator.ColorBits.Red,
                scaleImage: 1f / 255f, outputAsFloatArray: true));
        // The transforms are stateless; fitting on an empty view only fixes the schema.
        var empty = ml.Data.LoadFromEnumerable(Array.Empty<ImageRow>());
        return new ImagePreprocessor(ml, pipeline.Fit(empty), imageSize);
    }

    public void Save(Stream stream) => _ml.Model.Save(_transformer, null, stream);

    public static ImagePreprocessor Load(Stream stream, int imageSize)
    {
        var ml = new MLContext(0);
        var transformer = ml.Model.Load(stream, out _);
        return new ImagePreprocessor(ml, transformer, imageSize);
    }

    /// <summary>
    /// Transforms decoded images into one contiguous buffer of <c>count × size × size</c> floats. ML.NET's transforms
    /// dispose the images they are given, so each image can be transformed only once.
    /// </summary>
    public float[] ToPixels(IReadOnlyList<MLImage> images)
    {
        int plane = ImageSize * ImageSize;
        var result = new float[images.Count * plane];
        if (images.Count == 0) return result;
        var view = _ml.Data.LoadFromEnumerable(images.Select(i => new ImageRow { Image = i }));
        var transformed = _transformer.Transform(view);
        using var cursor = transformed.GetRowCursor(transformed.Schema.Where(c => c.Name == PixelsColumn));
        var getter = cursor.GetGetter<VBuffer<float>>(transformed.Schema[PixelsColumn]);
        VBuffer<float> buffer = default;
        int row = 0;
        while (cursor.MoveNext())
        {
            getter(ref buffer);
            buffer.GetValues().CopyTo(result.AsSpan(row * plane, plane));
            row++;
        }
        return result;
    }

    /// <summary>Converts 8-bit grayscale pixels to an <paramref name="imageSize"/>² image for the transforms (see <see cref="Photo.ToModelInput"/>).</summary>
    public static MLImage FromGray(ReadOnlySpan<byte> gray, int width, int height, int imageSize)
    {
        var bgra = new byte[gray.Length * 4];
        for (int i = 0; i < gray.Length; i++)
        {
            byte v = gray[i];
            bgra[4 * i] = v; bgra[4 * i + 1] = v; bgra[4 * i + 2] = v; bgra[4 * i + 3] = 255;
        }
        if (width != imageSize || height != imageSize) bgra = Resampler.Resize(bgra, width, height, imageSize, imageSize);
        return MLImage.CreateFromPixels(imageSize, imageSize, MLPixelFormat.Bgra32, bgra);
    }

    private sealed class ImageRow
    {
        [ImageType(48, 48)]
        public MLImage? Image { get; set; }
    }
}

/// <summary>
/// Decodes the model's input images (face crops for training, evaluation and prediction) through <see cref="Photo"/>:
/// upright by their EXIF orientation; for a JPEG much larger than the model's input, decoded at 1/2, 1/4 or 1/8
/// scale first; then resampled to the input size with averaging (<see cref="Photo.ToModelInput"/>).
/// </summary>
internal static class ImageDecoder
{
    /// <summary>
    /// The smallest side a reduced-scale decode keeps for a model whose input is <paramref name="imageSize"/>² pixels:
    /// four times the input side, so the averaging shrink that follows still has several decoded pixels per input
    /// pixel: the network's input differs from a full-size decode's by a mean of under 0.01 on its 0–1 scale (see the
    /// tests) while decoding a phone photo takes a fraction of the time and memory.
    /// </summary>
    public static int MinSide(int imageSize) => 4 * imageSize;

    /// <summary>Decodes a file; returns <c>null</c> when its path is invalid or it is missing, unreadable or not an image.</summary>
    public static MLImage? TryDecode(string path, int imageSize)
    {
        try { return Decode(path, imageSize); }
        catch (DatasetException) { return null; }
    }

    /// <exception cref="DatasetException">The path is invalid, or the file does not exist or is not a readable image.</exception>
    public static MLImage Decode(string path, int imageSize)
    {
        using var photo = Photo.Load(path, MinSide(imageSize));
        return photo.ToModelInput(imageSize);
    }

    /// <exception cref="DatasetException">The stream does not hold a readable image.</exception>
    public static MLImage Decode(Stream stream, string description, int imageSize)
    {
        using var photo = Photo.Load(stream, description, MinSide(imageSize));
        return photo.ToModelInput(imageSize);
    }
}

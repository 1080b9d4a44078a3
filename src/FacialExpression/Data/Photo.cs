using System.Runtime.InteropServices;
using Microsoft.ML.Data;
using SkiaSharp;

namespace FacialExpression.Data;

/// <summary>
/// A decoded image, upright (its EXIF orientation applied), as opaque 32-bit BGRA pixels. Every image the library
/// reads goes through here — photos for face detection, and face crops for training, evaluation and prediction — so
/// all of them are seen as displayed. Decoding uses SkiaSharp's codec directly because it exposes the EXIF origin
/// (which <see cref="MLImage"/> ignores) and can decode a JPEG at 1/2, 1/4 or 1/8 of its size, which the model's
/// input path uses so that a 12-megapixel photo is never held at full size just to become 48×48 pixels.
/// </summary>
internal sealed class Photo : IDisposable
{
    /// <summary>Refuse images above this many pixels (1 GiB of BGRA) instead of exhausting memory.</summary>
    internal const long MaxPixels = ImagePreprocessor.MaxPixels;
    internal const int MaxSide = 1 << 16; // the face detector's limit

    private Photo(SKBitmap bitmap, string description, SKEncodedOrigin origin, SKSizeI sourceSize)
    {
        Bitmap = bitmap;
        Description = description;
        Origin = origin;
        SourceSize = sourceSize;
    }

    /// <summary>The upright pixels: <see cref="SKColorType.Bgra8888"/>, opaque, rows without padding.</summary>
    public SKBitmap Bitmap { get; }

    /// <summary>The full path of the file, or a description of the stream, for error messages.</summary>
    public string Description { get; }

    /// <summary>The EXIF orientation found in the file (already applied to <see cref="Bitmap"/>).</summary>
    public SKEncodedOrigin Origin { get; }

    /// <summary>
    /// The image's full upright size, which is <see cref="Width"/> × <see cref="Height"/> unless it was decoded at a
    /// reduced scale.
    /// </summary>
    public SKSizeI SourceSize { get; }

    public int Width => Bitmap.Width;

    public int Height => Bitmap.Height;

    public ReadOnlySpan<byte> Pixels => Bitmap.GetPixelSpan();

    /// <summary>Decodes an image file.</summary>
    /// <param name="path">The file.</param>
    /// <param name="minSide">
    /// 0 to decode at full size; otherwise a JPEG may be decoded at 1/2, 1/4 or 1/8 scale as long as both sides stay
    /// at least this many pixels.
    /// </param>
    /// <exception cref="DatasetException">The path is empty or invalid, or the file does not exist or is not a readable image.</exception>
    public static Photo Load(string path, int minSide = 0)
    {
        string full;
        try { full = Path.GetFullPath(path); }
        catch (ArgumentException e) { throw new DatasetException(path ?? "", $"'{path}' is not a valid file path: {e.Message}", e); }
        if (!File.Exists(full))
            throw new DatasetException(full, Directory.Exists(full) ? $"'{full}' is a folder, not an image file. Pass one image file." : $"Image file '{full}' does not exist.");
        FileStream file;
        // FileShare.Read: a file another process is still writing is refused (and, in a dataset, skipped and named)
        // rather than decoded half-written.
        try { file = new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DatasetException(full, $"Image file '{full}' cannot be read: {e.Message}", e);
        }
        using (file) return Decode(file, full, minSide);
    }

    /// <summary>Decodes an encoded image read from a stream (read to the end, not closed).</summary>
    /// <param name="stream">The encoded image, from its current position.</param>
    /// <param name="description">What to call the stream in error messages.</param>
    /// <param name="minSide">As for <see cref="Load(string, int)"/>.</param>
    /// <exception cref="DatasetException">The stream does not hold a readable image.</exception>
    public static Photo Load(Stream stream, string description, int minSide = 0)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanRead) throw new ArgumentException("The stream is not readable.", nameof(stream));
        // SkiaSharp's codec takes ownership of (and closes) the stream it reads: a seekable stream is lent to it through
        // a wrapper that ignores Dispose (no copy); any other stream is copied first.
        if (stream.CanSeek)
        {
            using var lent = new UnclosableStream(stream);
            return Decode(lent, description, minSide);
        }
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        buffer.Position = 0;
        return Decode(buffer, description, minSide);
    }

    private static Photo Decode(Stream data, string description, int minSide)
    {
        const string Supported = "Supply a JPEG, PNG, BMP, GIF, WebP or ICO image.";
        if (data.Length - data.Position == 0) throw new DatasetException(description, $"'{description}' is empty, not an image. {Supported}");
        using var codec = SKCodec.Create(data, out var created);
        if (codec is null)
            throw new DatasetException(description, $"'{description}' is not a readable image (decoder said: {created}). {Supported}");
        var size = codec.Info;
        // The limits apply to the encoded size: a decoder may need full-size buffers even for a reduced-scale decode.
        if (size.Width <= 0 || size.Height <= 0 || (long)size.Width * size.Height > MaxPixels || size.Width > MaxSide || size.Height > MaxSide)
            throw new DatasetException(description, $"'{description}' is {size.Width}×{size.Height} pixels; images up to {MaxPixels / (1024 * 1024)} megapixels and {MaxSide} pixels a side are supported.");
        var decoded = minSide > 0 ? ReducedSize(codec, minSide) : size.Size;
        bool opaque = size.AlphaType == SKAlphaType.Opaque;
        var info = new SKImageInfo(decoded.Width, decoded.Height, SKColorType.Bgra8888, opaque ? SKAlphaType.Opaque : SKAlphaType.Premul);
        var raw = new SKBitmap(info);
        try
        {
            var result = codec.GetPixels(info, raw.GetPixels());
            // IncompleteInput: a truncated file whose missing rows the codec filled in; accepted like browsers do, unless
            // the result is one colour (a file cut off before its image data would otherwise be a blank training image).
            if (result is not (SKCodecResult.Success or SKCodecResult.IncompleteInput))
                throw new DatasetException(description, $"'{description}' could not be decoded (decoder said: {result}); the file is corrupt. {Supported}");
            if (result == SKCodecResult.IncompleteInput && IsUniform(raw))
                throw new DatasetException(description, $"'{description}' is truncated, and what could be decoded is blank (one colour; decoder said: {result}); copy or export the file again. {Supported}");
            var upright = Normalize(raw, codec.EncodedOrigin);
            if (!ReferenceEquals(upright, raw)) raw.Dispose();
            upright.SetImmutable();
            var source = SwapsSides(codec.EncodedOrigin) ? new SKSizeI(size.Height, size.Width) : size.Size;
            return new Photo(upright, description, codec.EncodedOrigin, source);
        }
        catch
        {
            raw.Dispose();
            throw;
        }
    }

    /// <summary>Whether every pixel of a 32-bit bitmap has the same value.</summary>
    private static bool IsUniform(SKBitmap bitmap)
    {
        var pixels = MemoryMarshal.Cast<byte, uint>(bitmap.GetPixelSpan());
        return pixels.IsEmpty || !pixels.ContainsAnyExcept(pixels[0]);
    }

    /// <summary>
    /// The smallest size libjpeg decodes a JPEG to natively (1/8, 1/4 or 1/2: DCT-domain scaling, which averages)
    /// whose sides are both at least <paramref name="minSide"/>; the full size for other formats (SkiaSharp would scale
    /// GIFs by nearest neighbour and pick another embedded picture of an ICO) or when no smaller size qualifies.
    /// </summary>
    private static SKSizeI ReducedSize(SKCodec codec, int minSide)
    {
        var full = codec.Info.Size;
        if (codec.EncodedFormat != SKEncodedImageFormat.Jpeg) return full;
        foreach (float scale in (ReadOnlySpan<float>)[0.125f, 0.25f, 0.5f])
        {
            var size = codec.GetScaledDimensions(scale);
            if (size.Width >= minSide && size.Height >= minSide && size.Width < full.Width) return size;
        }
        return full;
    }

    /// <summary>Wraps pixels that are already upright (used by tests and benchmarks).</summary>
    internal static Photo FromBitmap(SKBitmap bitmap, string description)
    {
        var upright = Normalize(bitmap, SKEncodedOrigin.TopLeft);
        if (!ReferenceEquals(upright, bitmap)) bitmap.Dispose();
        upright.SetImmutable();
        return new Photo(upright, description, SKEncodedOrigin.TopLeft, new SKSizeI(upright.Width, upright.Height));
    }

    /// <summary>
    /// Applies an EXIF origin and composites any transparency over black, returning an opaque upright
    /// <see cref="SKColorType.Bgra8888"/> bitmap; returns <paramref name="source"/> itself when it already is one.
    /// </summary>
    internal static SKBitmap Normalize(SKBitmap source, SKEncodedOrigin origin)
    {
        bool upright = origin is SKEncodedOrigin.TopLeft or SKEncodedOrigin.Default;
        if (upright && source.ColorType == SKColorType.Bgra8888 && source.AlphaType == SKAlphaType.Opaque && source.RowBytes == source.Width * 4)
            return source;
        int w = source.Width, h = source.Height;
        bool swap = SwapsSides(origin);
        // Maps stored pixel coordinates to displayed ones: x' = a·x + b·y + c, y' = d·x + e·y + f (EXIF tag 0x0112).
        var m = origin switch
        {
            SKEncodedOrigin.TopRight => new SKMatrix(-1, 0, w, 0, 1, 0, 0, 0, 1),     // 2: mirror horizontally
            SKEncodedOrigin.BottomRight => new SKMatrix(-1, 0, w, 0, -1, h, 0, 0, 1), // 3: rotate 180°
            SKEncodedOrigin.BottomLeft => new SKMatrix(1, 0, 0, 0, -1, h, 0, 0, 1),   // 4: mirror vertically
            SKEncodedOrigin.LeftTop => new SKMatrix(0, 1, 0, 1, 0, 0, 0, 0, 1),       // 5: transpose
            SKEncodedOrigin.RightTop => new SKMatrix(0, -1, h, 1, 0, 0, 0, 0, 1),     // 6: rotate 90° clockwise
            SKEncodedOrigin.RightBottom => new SKMatrix(0, -1, h, -1, 0, w, 0, 0, 1), // 7: transverse
            SKEncodedOrigin.LeftBottom => new SKMatrix(0, 1, 0, -1, 0, w, 0, 0, 1),   // 8: rotate 90° counter-clockwise
            _ => SKMatrix.Identity,
        };
        var result = new SKBitmap(new SKImageInfo(swap ? h : w, swap ? w : h, SKColorType.Bgra8888, SKAlphaType.Opaque));
        using var canvas = new SKCanvas(result);
        canvas.Clear(SKColors.Black);
        canvas.SetMatrix(m);
        canvas.DrawBitmap(source, 0, 0);
        canvas.Flush();
        return result;
    }

    /// <summary>Whether an EXIF origin turns the image by 90° (the displayed width is the stored height).</summary>
    private static bool SwapsSides(SKEncodedOrigin origin) =>
        origin is SKEncodedOrigin.LeftTop or SKEncodedOrigin.RightTop or SKEncodedOrigin.RightBottom or SKEncodedOrigin.LeftBottom;

    /// <summary>The whole photo as an <see cref="MLImage"/>, at its decoded size.</summary>
    public MLImage ToMLImage() => MLImage.CreateFromPixels(Width, Height, MLPixelFormat.Bgra32, Pixels);

    /// <summary>
    /// The whole photo resampled to <paramref name="size"/>² (stretched, as ML.NET's <c>ResizeImages</c> with
    /// <c>Fill</c> does) for the model's preprocessing, so that ML.NET's resize then has nothing to do. ML.NET's resize
    /// samples the nearest pixel, which aliases fine detail (a 96-pixel checkerboard becomes white at 48). Here each
    /// axis that shrinks is box-filtered (every output pixel is the mean of the source area it covers) and an axis
    /// that grows is interpolated linearly. An image already <paramref name="size"/>² (every FER2013 image) is not touched.
    /// </summary>
    public MLImage ToModelInput(int size)
    {
        if (Width == size && Height == size) return ToMLImage();
        var pixels = Resampler.Resize(Pixels, Width, Height, size, size);
        return MLImage.CreateFromPixels(size, size, MLPixelFormat.Bgra32, pixels);
    }

    public void Dispose() => Bitmap.Dispose();
}

/// <summary>Forwards reads and seeks to a caller's stream but leaves it open when disposed.</summary>
internal sealed class UnclosableStream(Stream inner) : Stream
{
    private readonly long _start = inner.Position;

    public override bool CanRead => true;
    public override bool CanSeek => true;
    public override bool CanWrite => false;
    public override long Length => inner.Length - _start;
    public override long Position { get => inner.Position - _start; set => inner.Position = _start + value; }
    public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
    public override int Read(Span<byte> buffer) => inner.Read(buffer);
    public override long Seek(long offset, SeekOrigin origin) => origin switch
    {
        SeekOrigin.Begin => inner.Seek(_start + offset, SeekOrigin.Begin) - _start,
        SeekOrigin.End => inner.Seek(offset, SeekOrigin.End) - _start,
        _ => inner.Seek(offset, SeekOrigin.Current) - _start,
    };
    public override void Flush() { }
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    protected override void Dispose(bool disposing) { } // the caller owns the stream
}

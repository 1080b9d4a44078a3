using SkiaSharp;

namespace FacialExpression.Tests.Faces;

/// <summary>The astronaut photo and images derived from it for the face tests.</summary>
internal static class FaceImages
{
    /// <summary>Her face in astronaut.png (hairline to chin, cheek to cheek), drawn by hand.</summary>
    public static readonly FaceBox AstronautFace = new(178, 68, 96, 112);

    public static string AstronautPath => Path.Combine(TestContext.CurrentContext.TestDirectory, "Assets", "astronaut.png");

    public static SKBitmap Astronaut() => Decode(AstronautPath);

    public static SKBitmap Decode(string path)
    {
        using var decoded = SKBitmap.Decode(path) ?? throw new InvalidOperationException($"Cannot decode {path}");
        return decoded.Copy(SKColorType.Bgra8888);
    }

    /// <summary>Writes a bitmap to a new file in a scratch folder and returns its path.</summary>
    public static string Save(SKBitmap bitmap, string name, SKEncodedImageFormat format = SKEncodedImageFormat.Png, int quality = 95)
    {
        var path = Path.Combine(TestData.NewFolder("faces"), name);
        using var data = bitmap.Encode(format, quality);
        File.WriteAllBytes(path, data.ToArray());
        return path;
    }

    /// <summary>Her face as a square crop (the face box's width on each side), top-aligned with the box.</summary>
    public static SKBitmap AstronautFaceCrop()
    {
        using var photo = Astronaut();
        var f = AstronautFace;
        using var view = new SKBitmap();
        Assert.That(photo.ExtractSubset(view, new SKRectI(f.X, f.Y, f.Right, f.Y + f.Width)), Is.True);
        return view.Copy();
    }

    /// <summary>A copy of <paramref name="source"/> resampled linearly to <paramref name="width"/> × <paramref name="height"/>.</summary>
    public static SKBitmap Resized(SKBitmap source, int width, int height) =>
        source.Resize(new SKImageInfo(width, height, SKColorType.Bgra8888, SKAlphaType.Opaque), new SKSamplingOptions(SKFilterMode.Linear));

    /// <summary>A new bitmap of the given size filled with one colour.</summary>
    public static SKBitmap Solid(int width, int height, SKColor color)
    {
        var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Bgra8888, SKAlphaType.Opaque));
        bitmap.Erase(color);
        return bitmap;
    }

    /// <summary>Draws <paramref name="source"/> into a new bitmap through a pixel-coordinate matrix.</summary>
    public static SKBitmap Transform(SKBitmap source, int width, int height, SKMatrix matrix)
    {
        var result = new SKBitmap(new SKImageInfo(width, height, SKColorType.Bgra8888, SKAlphaType.Opaque));
        using var canvas = new SKCanvas(result);
        canvas.Clear(SKColors.Black);
        canvas.SetMatrix(matrix);
        canvas.DrawBitmap(source, 0, 0);
        canvas.Flush();
        return result;
    }

    /// <summary>The photo twice, side by side.</summary>
    public static SKBitmap TiledTwice(SKBitmap photo)
    {
        var result = new SKBitmap(new SKImageInfo(photo.Width * 2, photo.Height, SKColorType.Bgra8888, SKAlphaType.Opaque));
        using var canvas = new SKCanvas(result);
        canvas.DrawBitmap(photo, 0, 0);
        canvas.DrawBitmap(photo, photo.Width, 0);
        canvas.Flush();
        return result;
    }

    /// <summary>
    /// A JPEG whose stored pixels are <paramref name="stored"/> and whose EXIF orientation tag (0x0112) is
    /// <paramref name="orientation"/>: a minimal big-endian APP1 "Exif" segment is inserted after the JFIF header.
    /// </summary>
    public static byte[] JpegWithOrientation(SKBitmap stored, ushort orientation)
    {
        using var data = stored.Encode(SKEncodedImageFormat.Jpeg, 95);
        var jpeg = data.ToArray();
        byte[] exif =
        [
            0xFF, 0xE1, 0x00, 0x22,                         // APP1, length 34
            (byte)'E', (byte)'x', (byte)'i', (byte)'f', 0, 0,
            (byte)'M', (byte)'M', 0x00, 0x2A, 0, 0, 0, 8,   // TIFF header, IFD0 at offset 8
            0x00, 0x01,                                     // one entry
            0x01, 0x12, 0x00, 0x03, 0, 0, 0, 1,             // Orientation, SHORT, count 1
            (byte)(orientation >> 8), (byte)orientation, 0, 0,
            0, 0, 0, 0,                                     // no next IFD
        ];
        Assert.That(jpeg[0] == 0xFF && jpeg[1] == 0xD8, "not a JPEG");
        int insertAt = 2;
        if (jpeg[2] == 0xFF && jpeg[3] == 0xE0) insertAt = 4 + ((jpeg[4] << 8) | jpeg[5]); // after APP0 (JFIF)
        return [.. jpeg.AsSpan(0, insertAt), .. exif, .. jpeg.AsSpan(insertAt)];
    }
}

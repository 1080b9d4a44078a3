namespace FacialExpression.Data;

/// <summary>
/// Separable resizing of opaque 32-bit BGRA pixels: an axis that shrinks is box-filtered (each output pixel is the
/// coverage-weighted mean of the source pixels under it, so fine detail averages out instead of aliasing), an axis
/// that grows is interpolated linearly between pixel centres.
/// </summary>
internal static class Resampler
{
    /// <summary>Resizes <paramref name="width"/> × <paramref name="height"/> BGRA pixels to <paramref name="newWidth"/> × <paramref name="newHeight"/>.</summary>
    public static byte[] Resize(ReadOnlySpan<byte> bgra, int width, int height, int newWidth, int newHeight)
    {
        var columns = Taps(width, newWidth);
        var rows = Taps(height, newHeight);
        // Horizontal pass into floats (B, G, R per pixel), then vertical pass into bytes; alpha stays opaque.
        var across = new float[(long)newWidth * height * 3];
        for (int y = 0; y < height; y++)
        {
            var line = bgra.Slice(y * width * 4, width * 4);
            for (int x = 0; x < newWidth; x++)
            {
                float b = 0, g = 0, r = 0;
                var (start, weights) = columns[x];
                for (int k = 0; k < weights.Length; k++)
                {
                    int i = (start + k) * 4;
                    float w = weights[k];
                    b += w * line[i]; g += w * line[i + 1]; r += w * line[i + 2];
                }
                long o = ((long)y * newWidth + x) * 3;
                across[o] = b; across[o + 1] = g; across[o + 2] = r;
            }
        }
        var result = new byte[newWidth * newHeight * 4];
        for (int y = 0; y < newHeight; y++)
        {
            var (start, weights) = rows[y];
            for (int x = 0; x < newWidth; x++)
            {
                float b = 0, g = 0, r = 0;
                for (int k = 0; k < weights.Length; k++)
                {
                    long i = ((long)(start + k) * newWidth + x) * 3;
                    float w = weights[k];
                    b += w * across[i]; g += w * across[i + 1]; r += w * across[i + 2];
                }
                int o = (y * newWidth + x) * 4;
                result[o] = ToByte(b); result[o + 1] = ToByte(g); result[o + 2] = ToByte(r); result[o + 3] = 255;
            }
        }
        return result;
    }

    /// <summary>For each output index along one axis: the first source index it reads and the weight of each source index from there.</summary>
    internal static (int Start, float[] Weights)[] Taps(int source, int target)
    {
        var taps = new (int, float[])[target];
        double scale = (double)source / target;
        for (int o = 0; o < target; o++)
        {
            if (scale >= 1)
            {
                // Box filter: the source interval [o·scale, (o+1)·scale) and how much of each pixel it covers.
                double a = o * scale, b = (o + 1) * scale;
                int first = (int)Math.Floor(a), last = Math.Min(source - 1, (int)Math.Ceiling(b) - 1);
                var w = new float[last - first + 1];
                for (int i = first; i <= last; i++) w[i - first] = (float)((Math.Min(b, i + 1) - Math.Max(a, i)) / scale);
                taps[o] = (first, w);
            }
            else
            {
                // Linear interpolation between the two source pixel centres around the output pixel's centre.
                double centre = Math.Clamp((o + 0.5) * scale - 0.5, 0, source - 1);
                int left = Math.Min((int)centre, Math.Max(0, source - 2));
                float t = (float)(centre - left);
                taps[o] = source == 1 ? (0, [1f]) : (left, [1 - t, t]);
            }
        }
        return taps;
    }

    private static byte ToByte(float v) => (byte)Math.Clamp((int)MathF.Round(v), 0, 255);
}

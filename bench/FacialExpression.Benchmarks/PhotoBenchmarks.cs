using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;

namespace FacialExpression.Benchmarks;

/// <summary>
/// Detect + classify on the 512×512 astronaut photo (decoding included, from an in-memory PNG), and detection alone on
/// the already decoded and downscaled pixels. The model is <c>ExpressionModel.LoadPretrained()</c> or the file named
/// by FACIALEXPRESSION_MODEL.
/// </summary>
[Config(typeof(Config))]
[MemoryDiagnoser]
public class PhotoBenchmarks
{
    private ExpressionModel _model = null!;
    private byte[] _photo = null!;
    private byte[] _photoBgra = null!;
    private CascadeFaceDetector _detector = null!;
    private FaceDetectionOptions _options = null!;
    private int _smallWidth, _smallHeight;

    /// <summary>The shorter side the photo is downscaled to before detection (0 = full resolution).</summary>
    [Params(256, 320, 0)]
    public int DetectionSize { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _model = Shared.LoadModel();
        _photo = File.ReadAllBytes(Shared.AstronautPath);
        _options = new FaceDetectionOptions { DetectionSize = DetectionSize };
        using var bitmap = Shared.Decode(Shared.AstronautPath);
        using var small = Shared.Downscale(bitmap, DetectionSize);
        _photoBgra = Shared.Bgra(small);
        (_smallWidth, _smallHeight) = (small.Width, small.Height);
        _detector = new CascadeFaceDetector();
        if (_model.PredictFaces(new MemoryStream(_photo), _options).Count == 0)
            throw new InvalidOperationException("Expected her face in the astronaut photo.");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _model.Dispose();
        _detector.Dispose();
    }

    [Benchmark(Description = "decode + detect + classify, 512×512 photo")]
    public int DetectAndClassify() => _model.PredictFaces(new MemoryStream(_photo, writable: false), _options).Count;

    [Benchmark(Description = "detect only (already downscaled BGRA)")]
    public int DetectOnly() => _detector.Detect(_photoBgra, _smallWidth, _smallHeight).Count;

    internal sealed class Config : ManualConfig
    {
        public Config()
        {
            // A short job: this is a 2-core machine; numbers are indicative, not publication grade.
            AddJob(Job.ShortRun.WithWarmupCount(3).WithIterationCount(10));
        }
    }
}

/// <summary>Classify-only on a 48×48 grayscale face crop (her face, framed like FER2013).</summary>
[Config(typeof(PhotoBenchmarks.Config))]
[MemoryDiagnoser]
public class CropBenchmarks
{
    private ExpressionModel _model = null!;
    private byte[] _crop48 = null!;

    /// <summary>Test-time augmentation: one view, or the crop and its mirror image.</summary>
    [Params(TestTimeAugmentation.None, TestTimeAugmentation.Flip)]
    public TestTimeAugmentation Tta { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _model = Shared.LoadModel();
        _model.TestTimeAugmentation = Tta;
        using var bitmap = Shared.Decode(Shared.AstronautPath);
        var f = Shared.AstronautFace;
        using var face = new SkiaSharp.SKBitmap(48, 48);
        using (var canvas = new SkiaSharp.SKCanvas(face))
            canvas.DrawBitmap(bitmap, new SkiaSharp.SKRect(f.X, f.Y, f.Right, f.Y + f.Width), new SkiaSharp.SKRect(0, 0, 48, 48));
        _crop48 = new byte[48 * 48];
        for (int y = 0; y < 48; y++)
            for (int x = 0; x < 48; x++)
            {
                var c = face.GetPixel(x, y);
                _crop48[y * 48 + x] = (byte)((c.Red * 299 + c.Green * 587 + c.Blue * 114) / 1000);
            }
    }

    [GlobalCleanup]
    public void Cleanup() => _model.Dispose();

    [Benchmark(Description = "classify only, 48×48 crop")]
    public float ClassifyCrop() => _model.Predict(_crop48, 48, 48).Confidence;
}

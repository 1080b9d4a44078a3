using System.Reflection;
using FacialExpression.Faces;
using OpenCvSharp;

namespace FacialExpression;

/// <summary>
/// Immutable settings of <see cref="CascadeFaceDetector"/>. The defaults were chosen by measuring recall on faces of
/// different sizes (see the repository's <c>bench/</c> project); every value is validated when the detector is created.
/// </summary>
public sealed record CascadeFaceDetectorOptions
{
    /// <summary>
    /// How much the search window grows between pyramid levels. Smaller is slower and finds more faces (and more false
    /// ones). Default 1.1; greater than 1 and at most 2.
    /// </summary>
    public double ScaleFactor { get; init; } = 1.1;

    /// <summary>
    /// How many overlapping raw detections a face needs to be reported; higher values drop false faces and some faint
    /// real ones. Default 3; 0 (report every raw window, ungrouped) to 100.
    /// </summary>
    public int MinNeighbors { get; init; } = 3;

    /// <summary>
    /// The smallest face searched for, in pixels of the image given to the detector (after
    /// <see cref="FaceDetectionOptions.DetectionSize"/> downscaling). Default 0: the cascade's own window (24 pixels
    /// for the built-in cascade); 0 to 16 384.
    /// </summary>
    public int MinFaceSize { get; init; }

    /// <summary>The largest face searched for, in pixels of the image given to the detector. Default 0: no limit; 0 to 16 384.</summary>
    public int MaxFaceSize { get; init; }

    /// <summary>Equalise the grayscale histogram before searching, which helps in dim or low-contrast photos. Default <c>true</c>.</summary>
    public bool EqualizeHistogram { get; init; } = true;

    /// <summary>
    /// An OpenCV cascade XML file (for example one of the Haar or LBP face cascades shipped with OpenCV) to use instead
    /// of the built-in one. Default <c>null</c>: the built-in cascade.
    /// </summary>
    public string? CascadeFile { get; init; }

    internal void Validate()
    {
        if (double.IsNaN(ScaleFactor) || ScaleFactor <= 1 || ScaleFactor > 2)
            throw new ArgumentOutOfRangeException(nameof(ScaleFactor), ScaleFactor, $"{nameof(ScaleFactor)} must be greater than 1 and at most 2; it was {ScaleFactor}.");
        Guard.InRange(MinNeighbors, 0, 100, nameof(MinNeighbors));
        Guard.InRange(MinFaceSize, 0, 16384, nameof(MinFaceSize));
        Guard.InRange(MaxFaceSize, 0, 16384, nameof(MaxFaceSize));
        if (MaxFaceSize != 0 && MaxFaceSize < MinFaceSize)
            throw new ArgumentOutOfRangeException(nameof(MaxFaceSize), MaxFaceSize, $"{nameof(MaxFaceSize)} ({MaxFaceSize}) is smaller than {nameof(MinFaceSize)} ({MinFaceSize}); raise it or set it to 0 for no limit.");
        if (CascadeFile is { Length: 0 })
            throw new ArgumentException($"{nameof(CascadeFile)} must not be empty; use null for the built-in cascade.", nameof(CascadeFile));
    }
}

/// <summary>
/// The built-in face detector: an OpenCV cascade classifier (through OpenCvSharp) for upright frontal faces. By default
/// it uses OpenCV's <c>lbpcascade_frontalface.xml</c>, embedded in the library together with its licence. It holds
/// native memory, so dispose it. Thread-safe: concurrent calls to <see cref="Detect"/> are serialised.
/// </summary>
/// <remarks>
/// Cascades find frontal and near-frontal faces (roughly ±20° of yaw and in-plane tilt); profiles, faces turned
/// further, and faces smaller than the cascade window (24 pixels in the image the detector is given) are missed.
/// </remarks>
public sealed class CascadeFaceDetector : IFaceDetector, IDisposable
{
    internal const string BuiltInCascadeName = "lbpcascade_frontalface.xml";
    private const string BuiltInResource = "FacialExpression.Faces.Cascades." + BuiltInCascadeName;
    private const double GroupEps = 0.2; // OpenCV's own grouping tolerance in detectMultiScale

    private static readonly Lazy<CascadeFaceDetector> SharedInstance = new(() => new CascadeFaceDetector(), LazyThreadSafetyMode.ExecutionAndPublication);

    private readonly CascadeClassifier _cascade;
    private readonly object _gate = new();
    private bool _disposed;

    /// <summary>Creates a detector with the built-in cascade and default <see cref="CascadeFaceDetectorOptions"/>.</summary>
    /// <exception cref="NativeRuntimeException">OpenCV's native library cannot be loaded.</exception>
    public CascadeFaceDetector() : this(new CascadeFaceDetectorOptions()) { }

    /// <summary>Creates a detector with the given settings.</summary>
    /// <param name="options">The settings; not modified.</param>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of its documented range.</exception>
    /// <exception cref="ArgumentException"><see cref="CascadeFaceDetectorOptions.CascadeFile"/> is an empty string.</exception>
    /// <exception cref="DatasetException"><see cref="CascadeFaceDetectorOptions.CascadeFile"/> is missing or not an OpenCV cascade.</exception>
    /// <exception cref="NativeRuntimeException">OpenCV's native library cannot be loaded.</exception>
    public CascadeFaceDetector(CascadeFaceDetectorOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        OpenCvRuntime.EnsureLoaded();
        _cascade = options.CascadeFile is null ? LoadBuiltIn() : LoadFile(options.CascadeFile);
        WindowSize = _cascade.GetOriginalWindowSize().Width;
    }

    /// <summary>The detector's settings.</summary>
    public CascadeFaceDetectorOptions Options { get; }

    /// <summary>The shared default instance used when <see cref="FaceDetectionOptions.Detector"/> is null; never disposed.</summary>
    internal static CascadeFaceDetector Shared => SharedInstance.Value;

    /// <summary>Side of the cascade's training window, the smallest face it can find.</summary>
    internal int WindowSize { get; }

    /// <summary>
    /// Finds upright frontal faces. <see cref="DetectedFace.Confidence"/> is n / (n + 10), where n is the number of
    /// overlapping raw detections merged into the box (more means a more certain face).
    /// </summary>
    /// <param name="bgraPixels"><paramref name="width"/> × <paramref name="height"/> × 4 bytes of BGRA pixels, rows without padding.</param>
    /// <param name="width">Image width in pixels.</param>
    /// <param name="height">Image height in pixels.</param>
    /// <returns>The faces found, largest first.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="width"/> or <paramref name="height"/> is not between 1 and 65,536.</exception>
    /// <exception cref="ArgumentException">The pixel count does not match the size.</exception>
    /// <exception cref="ObjectDisposedException">The detector has been disposed.</exception>
    public IReadOnlyList<DetectedFace> Detect(ReadOnlySpan<byte> bgraPixels, int width, int height)
    {
        Guard.InRange(width, 1, 1 << 16, nameof(width));
        Guard.InRange(height, 1, 1 << 16, nameof(height));
        if (bgraPixels.Length != (long)width * height * 4)
            throw new ArgumentException($"Expected width × height × 4 = {(long)width * height * 4} BGRA bytes but got {bgraPixels.Length}.", nameof(bgraPixels));
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            using var bgra = new Mat(height, width, MatType.CV_8UC4);
            bgraPixels.CopyTo(bgra.AsSpan<byte>());
            using var gray = new Mat();
            Cv2.CvtColor(bgra, gray, ColorConversionCodes.BGRA2GRAY);
            if (Options.EqualizeHistogram) Cv2.EqualizeHist(gray, gray);
            var o = Options;
            var min = o.MinFaceSize > 0 ? new Size(o.MinFaceSize, o.MinFaceSize) : (Size?)null;
            var max = o.MaxFaceSize > 0 ? new Size(o.MaxFaceSize, o.MaxFaceSize) : (Size?)null;
            // minNeighbors 0 returns the raw windows; grouping them here (exactly as detectMultiScale would) also yields
            // each group's size, which becomes the confidence.
            var raw = _cascade.DetectMultiScale(gray, o.ScaleFactor, 0, HaarDetectionTypes.ScaleImage, min, max);
            if (raw.Length == 0) return [];
            DetectedFace[] faces;
            if (o.MinNeighbors == 0) faces = raw.Select(r => new DetectedFace(ToBox(r), Confidence(1))).ToArray();
            else
            {
                var rects = raw.ToList();
                Cv2.GroupRectangles(rects, out int[] weights, o.MinNeighbors, GroupEps);
                faces = new DetectedFace[rects.Count];
                for (int i = 0; i < faces.Length; i++) faces[i] = new DetectedFace(ToBox(rects[i]), Confidence(weights[i]));
            }
            Array.Sort(faces, (a, b) => b.Box.Area.CompareTo(a.Box.Area));
            return faces;
        }
    }

    private static float Confidence(int neighbours) => neighbours / (neighbours + 10f);

    private static FaceBox ToBox(Rect r) => new(r.X, r.Y, r.Width, r.Height);

    private static CascadeClassifier LoadBuiltIn()
    {
        using var stream = typeof(CascadeFaceDetector).Assembly.GetManifestResourceStream(BuiltInResource)
            ?? throw new InvalidOperationException($"The embedded resource '{BuiltInResource}' is missing from {typeof(CascadeFaceDetector).Assembly.GetName().Name}; the library was built incorrectly.");
        using var reader = new StreamReader(stream);
        return FromXml(reader.ReadToEnd())
            ?? throw new InvalidOperationException($"The embedded cascade '{BuiltInCascadeName}' could not be read by OpenCV {Cv2.GetVersionString()}.");
    }

    private static CascadeClassifier LoadFile(string path)
    {
        var full = Path.GetFullPath(path);
        if (!File.Exists(full)) throw new DatasetException(full, $"Cascade file '{full}' does not exist.");
        string xml;
        try { xml = File.ReadAllText(full); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DatasetException(full, $"Cascade file '{full}' cannot be read: {e.Message}", e);
        }
        return FromXml(xml)
            ?? throw new DatasetException(full, $"'{full}' is not an OpenCV cascade classifier in the current XML format (for example haarcascade_frontalface_default.xml or lbpcascade_frontalface.xml from OpenCV's data folder).");
    }

    /// <summary>Parses a cascade from XML text in memory; returns null when OpenCV does not accept it.</summary>
    private static CascadeClassifier? FromXml(string xml)
    {
        CascadeClassifier? cascade = new CascadeClassifier();
        try
        {
            using var storage = new FileStorage(xml, FileStorage.Modes.Read | FileStorage.Modes.Memory);
            if (!storage.IsOpened()) return Fail();
            using var node = storage.GetFirstTopLevelNode();
            if (node is null || !cascade.Read(node) || cascade.Empty()) return Fail();
            var result = cascade;
            cascade = null;
            return result;
        }
        catch (OpenCVException)
        {
            return Fail();
        }
        finally
        {
            cascade?.Dispose();
        }

        CascadeClassifier? Fail() => null;
    }

    /// <summary>Releases the cascade's native memory. Idempotent; <see cref="Detect"/> then throws <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            _cascade.Dispose();
        }
    }
}

using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using OpenCvSharp;

namespace FacialExpression.Faces;

/// <summary>Loads OpenCvSharp's native library once and turns a load failure into an explanation of what is missing.</summary>
internal static partial class OpenCvRuntime
{
    private static readonly Lazy<Exception?> LoadError = new(TryLoad, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary><c>true</c> when OpenCV's native library loads.</summary>
    public static bool IsAvailable => LoadError.Value is null;

    public static void EnsureLoaded()
    {
        if (LoadError.Value is { } e) throw Explain(e);
    }

    private static Exception? TryLoad()
    {
        try
        {
            _ = Cv2.GetVersionString();
            return null;
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or EntryPointNotFoundException or BadImageFormatException or OpenCvSharpException)
        {
            return e;
        }
    }

    private static NativeRuntimeException Explain(Exception e)
    {
        var parts = new List<string>();
        for (Exception? x = e; x is not null; x = x.InnerException) parts.Add(x.Message);
        var text = string.Join(" | ", parts);
        var missing = MissingLibrary().Match(text);
        string hint;
        if (missing.Success && !missing.Value.Contains("OpenCvSharpExtern", StringComparison.OrdinalIgnoreCase))
        {
            hint = $"OpenCvSharp's native library needs the system library {missing.Value}. " +
                   (missing.Value.Contains("gtk", StringComparison.OrdinalIgnoreCase) || missing.Value.Contains("gdk", StringComparison.OrdinalIgnoreCase)
                       ? "On Debian or Ubuntu install the 'libgtk-3-0' package (the repository's eng/install-prerequisites.sh does)."
                       : "Install the distribution package that provides it.");
        }
        else if (RuntimeInformation.IsOSPlatform(OSPlatform.Linux) && RuntimeInformation.ProcessArchitecture == Architecture.X64)
        {
            hint = "libOpenCvSharpExtern.so was not found or could not be loaded. The FacialExpression package brings " +
                   "'OpenCvSharp4.official.runtime.linux-x64'; check that it was restored and that 'libgtk-3-0' is installed.";
        }
        else
        {
            hint = $"This platform ({RuntimeInformation.OSDescription}, {RuntimeInformation.ProcessArchitecture}) needs an OpenCvSharp4 runtime " +
                   "package for it in the application (for example 'OpenCvSharp4.runtime.win' on Windows). Or pass your own " +
                   "IFaceDetector in FaceDetectionOptions.Detector, or set FaceDetectionOptions.InputIsFaceCrop for face crops.";
        }
        var said = text.Length > 600 ? text[..600] + "…" : text;
        return new NativeRuntimeException($"OpenCV's native runtime (used for face detection) could not be loaded. {hint} Loader said: {said}", e);
    }

    [GeneratedRegex(@"lib[A-Za-z0-9_+\-]+\.so(\.[0-9]+)*")]
    private static partial Regex MissingLibrary();
}

using System.Runtime.InteropServices;

namespace FacialExpression;

/// <summary>Loads libtorch once and turns a native load failure into an explanation of what is missing.</summary>
internal static class TorchRuntime
{
    private static readonly Lazy<Exception?> LoadError = new(TryLoad, LazyThreadSafetyMode.ExecutionAndPublication);

    public static void EnsureLoaded()
    {
        if (LoadError.Value is { } e) throw Explain(e);
    }

    private static Exception? TryLoad()
    {
        try
        {
            using var t = TorchSharp.torch.zeros(1);
            return null;
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or NotSupportedException or EntryPointNotFoundException or BadImageFormatException)
        {
            return e;
        }
    }

    internal static NativeRuntimeException Explain(Exception e)
    {
        var text = Flatten(e);
        string hint;
        if (text.Contains("GLIBCXX", StringComparison.Ordinal))
        {
            var symbol = System.Text.RegularExpressions.Regex.Match(text, @"GLIBCXX_[0-9.]+").Value;
            hint = $"libtorch needs a newer libstdc++ ({symbol} is missing; GCC 13's libstdc++ provides GLIBCXX_3.4.32). " +
                   "On Debian 12 run 'eng/install-prerequisites.sh' from the FacialExpression repository (it installs libstdc++6 from Debian 13, pinned), " +
                   "or upgrade to Ubuntu 24.04+ / Debian 13+.";
        }
        else if (text.Contains("LibTorchSharp", StringComparison.OrdinalIgnoreCase) || text.Contains("libtorch", StringComparison.OrdinalIgnoreCase) || e is DllNotFoundException)
        {
            hint = "The libtorch native binaries were not found. Reference the 'TorchSharp-cpu' package (or a CUDA variant such as 'TorchSharp-cuda-linux') from your application project.";
        }
        else
        {
            hint = "Check that the application references 'TorchSharp-cpu' (or a CUDA variant) and that the platform is 64-bit " + RuntimeInformation.OSDescription + ".";
        }
        return new NativeRuntimeException($"The libtorch native runtime could not be loaded. {hint} Loader said: {FirstLine(text)}", e);
    }

    private static string Flatten(Exception e)
    {
        var parts = new List<string>();
        for (Exception? x = e; x is not null; x = x.InnerException) parts.Add(x.Message);
        return string.Join(" | ", parts);
    }

    private static string FirstLine(string s) => s.Length > 600 ? s[..600] + "…" : s;
}

namespace FacialExpression.Tests.Runtime;

public sealed class NativeRuntimeTests
{
    [Test]
    public void MissingGlibcxxSymbol_IsExplainedWithTheFixAndKeepsTheOriginal()
    {
        var original = new TypeInitializationException("TorchSharp.torch",
            new DllNotFoundException("/usr/lib/x86_64-linux-gnu/libstdc++.so.6: version `GLIBCXX_3.4.32' not found (required by libtorch_cpu.so)"));
        var e = TorchRuntime.Explain(original);
        Assert.That(e.Message, Does.Contain("GLIBCXX_3.4.32").And.Contain("install-prerequisites.sh"));
        Assert.That(e.InnerException, Is.SameAs(original));
    }

    [Test]
    public void MissingNativePackage_IsExplained()
    {
        var e = TorchRuntime.Explain(new DllNotFoundException("Unable to load shared library 'LibTorchSharp'"));
        Assert.That(e.Message, Does.Contain("TorchSharp-cpu"));
    }
}

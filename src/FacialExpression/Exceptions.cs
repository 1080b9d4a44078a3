namespace FacialExpression;

/// <summary>Base type of every exception the library throws for a problem with data, model files or the runtime.</summary>
public abstract class FacialExpressionException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What failed, the offending value and how to fix it.</param>
    /// <param name="inner">The underlying exception, if any.</param>
    protected FacialExpressionException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>A dataset folder, CSV file or image cannot be used: missing, empty, malformed or unreadable.</summary>
public sealed class DatasetException : FacialExpressionException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="path">The folder or file at fault.</param>
    /// <param name="message">What failed and how to fix it.</param>
    /// <param name="inner">The underlying exception, if any.</param>
    public DatasetException(string path, string message, Exception? inner = null) : base(message, inner) => Path = path;

    /// <summary>The folder or file at fault.</summary>
    public string Path { get; }
}

/// <summary>A model file is missing, truncated, corrupt, not a FacialExpression model, or from a newer format version.</summary>
public sealed class ModelFormatException : FacialExpressionException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="path">The model file (or a description of the stream).</param>
    /// <param name="message">What failed and how to fix it.</param>
    /// <param name="inner">The underlying exception, if any.</param>
    public ModelFormatException(string path, string message, Exception? inner = null) : base(message, inner) => Path = path;

    /// <summary>The model file (or a description of the stream).</summary>
    public string Path { get; }
}

/// <summary>A native runtime (libtorch, or OpenCV for face detection) could not be loaded; the message names the missing library or symbol and the fix.</summary>
public sealed class NativeRuntimeException : FacialExpressionException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What is missing and how to install it.</param>
    /// <param name="inner">The original loader exception.</param>
    public NativeRuntimeException(string message, Exception? inner = null) : base(message, inner) { }
}

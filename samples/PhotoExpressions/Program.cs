// PhotoExpressions: find every face in a photo, print each one's box and top expressions, write an annotated copy.
//   dotnet run --project samples/PhotoExpressions -- photo.jpg
//   dotnet run --project samples/PhotoExpressions -- photo.jpg --out annotated.png --detection-size 640
//   dotnet run --project samples/PhotoExpressions -- face.png --crop          (the image is already a face crop)
using System.CommandLine;
using System.Globalization;
using FacialExpression;

var photoArgument = new Argument<FileInfo>("photo") { Description = "A JPEG, PNG, BMP, GIF or WebP photo." };
var outOption = new Option<FileInfo?>("--out") { Description = "Where to write the annotated copy (.png, .jpg or .webp). Default: <photo>.faces.png beside the photo." };
var modelOption = new Option<FileInfo?>("--model") { Description = "A model file (.fexm) to use instead of the shipped FER2013 model." };
var sizeOption = new Option<int>("--detection-size") { Description = "Shorter side of the copy searched for faces; raise it for small faces, 0 for full resolution.", DefaultValueFactory = _ => FaceDetectionOptions.Default.DetectionSize };
var cropOption = new Option<bool>("--crop") { Description = "The photo is already a face crop: skip detection." };
var root = new RootCommand("Predict the facial expression of every face in a photo.") { photoArgument, outOption, modelOption, sizeOption, cropOption };
root.SetAction(parse =>
{
    var photo = parse.GetValue(photoArgument)!.FullName;
    var output = parse.GetValue(outOption)?.FullName
        ?? Path.Combine(Path.GetDirectoryName(photo) ?? ".", Path.GetFileNameWithoutExtension(photo) + ".faces.png");
    var modelFile = parse.GetValue(modelOption)?.FullName;
    try
    {
        using var model = modelFile is null ? ExpressionModel.LoadPretrained() : ExpressionModel.Load(modelFile);

        // snippet:photo-faces
        var options = new FaceDetectionOptions
        {
            DetectionSize = parse.GetValue(sizeOption),
            InputIsFaceCrop = parse.GetValue(cropOption),
        };
        IReadOnlyList<FaceExpression> faces = model.AnnotateFaces(photo, output, options);
        Console.WriteLine($"{faces.Count} face(s) in {Path.GetFileName(photo)}, left to right:");
        foreach (var (face, i) in faces.Select((f, i) => (f, i + 1)))
        {
            var top = face.Prediction.Scores.OrderByDescending(s => s.Value).Take(3)
                .Select(s => string.Create(CultureInfo.InvariantCulture, $"{s.Key} {s.Value * 100:F0}%"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  #{i}  {face.Box}  (detector {face.Confidence:F2})  {string.Join(", ", top)}"));
        }
        Console.WriteLine($"Annotated copy: {output}");
        // endsnippet
        return 0;
    }
    catch (Exception e) when (e is FacialExpressionException or ArgumentException or IOException or UnauthorizedAccessException or InvalidOperationException) // the last: SkiaSharp could not encode
    {
        Console.Error.WriteLine(e.Message);
        return 1;
    }
});
return await root.Parse(args).InvokeAsync();


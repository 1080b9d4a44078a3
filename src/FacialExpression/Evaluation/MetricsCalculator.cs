using Microsoft.ML;
using Microsoft.ML.Data;

namespace FacialExpression.Evaluation;

/// <summary>Builds an <see cref="EvaluationReport"/> from labels and probabilities with ML.NET's multiclass evaluator.</summary>
internal static class MetricsCalculator
{
    public static EvaluationReport Compute(IReadOnlyList<string> labels, IReadOnlyList<int> actual, IReadOnlyList<float[]> probabilities, int skipped = 0)
    {
        int k = labels.Count;
        if (actual.Count == 0) throw new ArgumentException("There are no images to evaluate.", nameof(actual));
        var ml = new MLContext(0);
        var rows = new Row[actual.Count];
        for (int i = 0; i < rows.Length; i++)
        {
            var p = probabilities[i];
            int argmax = 0;
            for (int j = 1; j < k; j++) if (p[j] > p[argmax]) argmax = j;
            // LoadFromEnumerable takes key values 0-based here and stores them 1-based (0 = missing).
            rows[i] = new Row { Label = (uint)actual[i], Score = p, PredictedLabel = (uint)argmax };
        }
        var schema = SchemaDefinition.Create(typeof(Row));
        schema[nameof(Row.Label)].ColumnType = new KeyDataViewType(typeof(uint), k);
        schema[nameof(Row.PredictedLabel)].ColumnType = new KeyDataViewType(typeof(uint), k);
        schema[nameof(Row.Score)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, k);
        var view = ml.Data.LoadFromEnumerable(rows, schema);
        var m = ml.MulticlassClassification.Evaluate(view, nameof(Row.Label), nameof(Row.Score), nameof(Row.PredictedLabel));

        var confusion = new int[k, k];
        for (int a = 0; a < k; a++)
            for (int b = 0; b < k; b++)
                confusion[a, b] = a < m.ConfusionMatrix.Counts.Count && b < m.ConfusionMatrix.Counts[a].Count ? (int)Math.Round(m.ConfusionMatrix.Counts[a][b]) : 0;
        var perClass = new ClassMetrics[k];
        for (int c = 0; c < k; c++)
        {
            int support = 0;
            for (int b = 0; b < k; b++) support += confusion[c, b];
            double precision = c < m.ConfusionMatrix.PerClassPrecision.Count ? m.ConfusionMatrix.PerClassPrecision[c] : 0;
            double recall = c < m.ConfusionMatrix.PerClassRecall.Count ? m.ConfusionMatrix.PerClassRecall[c] : 0;
            if (double.IsNaN(precision)) precision = 0;
            if (double.IsNaN(recall)) recall = 0;
            double f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0;
            perClass[c] = new ClassMetrics(labels[c], precision, recall, f1, support);
        }
        return new EvaluationReport(labels, m.MicroAccuracy, m.MacroAccuracy, m.LogLoss, confusion, perClass, skipped);
    }

    private sealed class Row
    {
        public uint Label { get; set; }
        public float[] Score { get; set; } = [];
        public uint PredictedLabel { get; set; }
    }
}

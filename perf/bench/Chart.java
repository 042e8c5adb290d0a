import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;

/**
 * Draws the bench chart: three panels of grouped bars (median, with a min–max whisker) per
 * configuration — latency percentiles at the fixed rate, iperf3 throughput, request and
 * connection rates. Run as a single source file, no dependencies:
 *
 * <pre>java -Djava.awt.headless=true perf/bench/Chart.java chart.tsv chart.png</pre>
 *
 * Input: the chart.tsv that report.py writes (config, label, metric, min, median, max).
 */
public class Chart {
  record Stat(double min, double median, double max) {}

  record Panel(String title, String unit, List<String> metrics, List<String> names, boolean log) {}

  static final Color[] SERIES = {
    new Color(0x4C78A8), new Color(0xF58518), new Color(0xE45756), new Color(0x72B7B2)
  };

  public static void main(String[] args) throws IOException {
    System.setProperty("java.awt.headless", "true");
    if (args.length != 2) {
      System.err.println("usage: java Chart.java chart.tsv chart.png");
      System.exit(2);
    }
    Map<String, String> labels = new LinkedHashMap<>();
    Map<String, Map<String, Stat>> data = new LinkedHashMap<>();
    for (String line : Files.readAllLines(Path.of(args[0]))) {
      if (line.isBlank() || line.startsWith("#")) continue;
      String[] f = line.split("\t");
      labels.put(f[0], "(" + f[0] + ") " + f[1]);
      data.computeIfAbsent(f[0], k -> new LinkedHashMap<>())
          .put(f[2], new Stat(Double.parseDouble(f[3]), Double.parseDouble(f[4]), Double.parseDouble(f[5])));
    }
    List<Panel> panels = List.of(
        new Panel("HTTP/1.1 latency at the fixed rate", "ms",
            List.of("p50_ms", "p90_ms", "p99_ms", "p999_ms"), List.of("p50", "p90", "p99", "p99.9"), true),
        new Panel("iperf3 throughput", "Gbit/s",
            List.of("iperf1_gbps", "iperf4_gbps"), List.of("1 stream", "4 streams"), false),
        new Panel("Request and connection rates", "per second",
            List.of("max_rps", "conn_per_s"), List.of("max req/s (32 conns)", "new conns/s"), false));

    int pw = 520, ph = 420, w = pw * panels.size(), h = ph + 90;
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = img.createGraphics();
    g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
    g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
    g.setColor(Color.WHITE);
    g.fillRect(0, 0, w, h);
    for (int i = 0; i < panels.size(); i++) {
      drawPanel(g, panels.get(i), data, i * pw, 0, pw, ph);
    }
    // configuration legend under the panels
    g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 13));
    g.setColor(Color.DARK_GRAY);
    int x = 20;
    for (String label : labels.values()) {
      g.drawString(label, x, ph + 40);
      x += g.getFontMetrics().stringWidth(label) + 40;
    }
    g.setFont(new Font(Font.SANS_SERIF, Font.ITALIC, 12));
    g.drawString("bars: median over the runs; whiskers: min–max", 20, ph + 65);
    g.dispose();
    ImageIO.write(img, "png", Path.of(args[1]).toFile());
  }

  static void drawPanel(Graphics2D g, Panel p, Map<String, Map<String, Stat>> data,
      int ox, int oy, int pw, int ph) {
    int left = ox + 60, right = ox + pw - 15, top = oy + 50, bottom = oy + ph - 40;
    double max = 0, min = Double.MAX_VALUE;
    for (Map<String, Stat> m : data.values()) {
      for (String metric : p.metrics()) {
        Stat s = m.get(metric);
        if (s != null) {
          max = Math.max(max, s.max());
          if (s.min() > 0) min = Math.min(min, s.min());
        }
      }
    }
    // linear: 0..nice ceiling; log (latency spans decades): whole decades around the data
    final double hi = p.log() ? Math.ceil(Math.log10(max == 0 ? 1 : max)) : niceCeiling(max == 0 ? 1 : max);
    final double lo = p.log() ? Math.min(hi - 1, Math.floor(Math.log10(min == Double.MAX_VALUE ? 0.1 : min))) : 0;
    final int t0 = top, b0 = bottom;
    java.util.function.DoubleUnaryOperator yOf = v -> p.log()
        ? b0 - (b0 - t0) * (Math.log10(Math.max(v, Math.pow(10, lo))) - lo) / (hi - lo)
        : b0 - (b0 - t0) * v / hi;
    g.setColor(Color.BLACK);
    g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 14));
    g.drawString(p.title() + " (" + p.unit() + (p.log() ? ", log scale" : "") + ")", left, oy + 22);
    g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
    int ticks = p.log() ? (int) (hi - lo) : 5;
    for (int t = 0; t <= ticks; t++) { // grid and axis labels
      double value = p.log() ? Math.pow(10, lo + t) : hi * t / ticks;
      int y = (int) yOf.applyAsDouble(value);
      g.setColor(new Color(0xE0E0E0));
      g.drawLine(left, y, right, y);
      g.setColor(Color.DARK_GRAY);
      String v = label(value);
      g.drawString(v, left - 6 - g.getFontMetrics().stringWidth(v), y + 4);
    }
    List<String> configs = new ArrayList<>(data.keySet());
    int groupW = (right - left) / Math.max(1, configs.size());
    int barW = Math.max(4, (groupW - 16) / p.metrics().size());
    for (int c = 0; c < configs.size(); c++) {
      int gx = left + c * groupW + 8;
      Map<String, Stat> m = data.get(configs.get(c));
      for (int k = 0; k < p.metrics().size(); k++) {
        Stat s = m.get(p.metrics().get(k));
        if (s == null) continue;
        int bx = gx + k * barW;
        int by = (int) yOf.applyAsDouble(s.median());
        g.setColor(SERIES[k % SERIES.length]);
        g.fillRect(bx, by, barW - 2, bottom - by);
        g.setColor(Color.BLACK);
        g.setStroke(new BasicStroke(1.2f));
        int ylo = (int) yOf.applyAsDouble(s.min());
        int yhi = (int) yOf.applyAsDouble(s.max());
        int cx = bx + (barW - 2) / 2;
        g.drawLine(cx, ylo, cx, yhi);
        g.drawLine(cx - 3, ylo, cx + 3, ylo);
        g.drawLine(cx - 3, yhi, cx + 3, yhi);
      }
      g.setColor(Color.BLACK);
      g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 13));
      String name = "(" + configs.get(c) + ")";
      g.drawString(name, gx + (groupW - 16) / 2 - g.getFontMetrics().stringWidth(name) / 2, bottom + 18);
    }
    g.setColor(Color.BLACK);
    g.drawLine(left, bottom, right, bottom);
    g.drawLine(left, top, left, bottom);
    g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
    int lx = left + 5;
    for (int k = 0; k < p.names().size(); k++) { // series legend
      g.setColor(SERIES[k % SERIES.length]);
      g.fillRect(lx, oy + 32, 10, 10);
      g.setColor(Color.DARK_GRAY);
      g.drawString(p.names().get(k), lx + 14, oy + 41);
      lx += 22 + g.getFontMetrics().stringWidth(p.names().get(k));
    }
  }

  static double niceCeiling(double v) {
    double e = Math.pow(10, Math.floor(Math.log10(v)));
    for (double step : new double[] {1, 2, 2.5, 5, 10}) {
      if (step * e >= v) return step * e;
    }
    return 10 * e;
  }

  static String label(double v) {
    if (v >= 1000) return String.format("%,.0f", v);
    if (v >= 10) return String.format("%.0f", v);
    if (v == 0) return "0";
    if (v >= 1) return String.format("%.1f", v);
    if (v >= 0.01) return String.format("%.2f", v);
    return String.format("%.3f", v);
  }
}

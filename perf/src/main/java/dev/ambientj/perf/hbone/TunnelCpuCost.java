package dev.ambientj.perf.hbone;

import java.lang.management.ManagementFactory;

/**
 * CPU cost of moving bytes through a tunnel vs direct TCP, measured as process CPU time per MiB.
 * Unlike the JMH wall-clock figures this barely moves when other processes compete for the cores
 * (a shared 2-core machine), so it is the number to compare between changes.
 *
 * <p>Run: {@code java --enable-native-access=ALL-UNNAMED -cp perf/target/benchmarks.jar
 * dev.ambientj.perf.hbone.TunnelCpuCost [ops]}
 */
public final class TunnelCpuCost {

  private TunnelCpuCost() {}

  public static void main(String[] args) throws Exception {
    int ops = args.length > 0 ? Integer.parseInt(args[0]) : 30;
    var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
    for (String path : new String[] {"direct", "tunnel"}) {
      HboneThroughputBenchmark b = new HboneThroughputBenchmark();
      b.path = path;
      b.transport = "AUTO";
      b.tls = "AUTO";
      b.setup();
      try {
        for (int i = 0; i < 10; i++) {
          b.push(); // warm-up
        }
        long cpu0 = os.getProcessCpuTime();
        long t0 = System.nanoTime();
        for (int i = 0; i < ops; i++) {
          b.push();
        }
        long wall = System.nanoTime() - t0;
        long cpu = os.getProcessCpuTime() - cpu0;
        double mib = (double) HboneThroughputBenchmark.BATCH_MIB * ops;
        System.out.printf("%-6s  %.3f ms CPU per MiB  |  %.0f MiB/s wall on %.2f busy cores%n",
            path, cpu / 1e6 / mib, mib / (wall / 1e9), (double) cpu / wall);
      } finally {
        b.tearDown();
      }
    }
    System.exit(0);
  }
}

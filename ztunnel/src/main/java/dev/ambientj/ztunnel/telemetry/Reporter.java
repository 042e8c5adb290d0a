package dev.ambientj.ztunnel.telemetry;

/** Which end of a connection a metric describes (Istio's {@code reporter} label). */
public enum Reporter {
  /** The ztunnel next to the client (outbound). */
  SOURCE("source"),
  /** The ztunnel next to the server (inbound). */
  DESTINATION("destination");

  private final String label;

  Reporter(String label) {
    this.label = label;
  }

  /** The label value, {@code source} or {@code destination}. */
  public String label() {
    return label;
  }
}

package dev.ambientj.ztunnel.proxy;

/** ztunnel's well-known ports (ISTIO-FACTS §1). */
public final class Ports {
  private Ports() {}

  public static final int OUTBOUND = 15001;
  public static final int INBOUND_PLAINTEXT = 15006;
  public static final int HBONE = 15008;
  public static final int SOCKS5 = 15080;
  public static final int ADMIN = 15000;
  public static final int METRICS = 15020;
  public static final int READINESS = 15021;

  /**
   * The ports ztunnel itself listens on inside a workload's network: traffic addressed to them
   * would loop back into ztunnel ({@code SelfCall}).
   */
  public static boolean isIllegal(int port) {
    return port == OUTBOUND || port == INBOUND_PLAINTEXT || port == HBONE || port == SOCKS5;
  }
}

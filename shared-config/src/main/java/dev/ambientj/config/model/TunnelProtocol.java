package dev.ambientj.config.model;

/**
 * How traffic reaches a workload: plain TCP, or HBONE through its node's ztunnel (iff enrolled).
 */
public enum TunnelProtocol {
  NONE,
  HBONE
}

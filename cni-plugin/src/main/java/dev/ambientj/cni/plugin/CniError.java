package dev.ambientj.cni.plugin;

/**
 * A CNI error result (CNI spec 1.0.0, "Error" section): printed as JSON on stdout with a non-zero
 * exit status. Codes 1–99 are the spec's; 100+ are this plugin's.
 */
final class CniError extends Exception {
  private static final long serialVersionUID = 1L;

  /** The configured cniVersion is not one this plugin speaks. */
  static final int INCOMPATIBLE_VERSION = 1;
  /** A field of the network configuration is not supported. */
  static final int UNSUPPORTED_FIELD = 2;
  /** CNI_COMMAND, CNI_NETNS, … missing or invalid; the message names the variable. */
  static final int INVALID_ENV = 4;
  /** Reading stdin (or another local I/O) failed. */
  static final int IO_FAILURE = 5;
  /** The network configuration is not valid JSON. */
  static final int DECODE_FAILURE = 6;
  /** The network configuration is JSON but not a valid configuration. */
  static final int INVALID_CONFIG = 7;
  /** A transient condition (the node agent is not up yet): the runtime should retry. */
  static final int TRY_AGAIN_LATER = 11;
  /** The node agent refused or failed to enroll the pod. */
  static final int ENROLLMENT_FAILED = 100;

  private final int code;
  private final String details;

  CniError(int code, String msg) {
    this(code, msg, null);
  }

  CniError(int code, String msg, String details) {
    super(msg);
    this.code = code;
    this.details = details;
  }

  int code() {
    return code;
  }

  /** {@code {"cniVersion":…,"code":N,"msg":…[,"details":…]}}. */
  String toJson(String cniVersion) {
    StringBuilder sb = new StringBuilder(128);
    sb.append("{\"cniVersion\":");
    Json.quote(sb, cniVersion);
    sb.append(",\"code\":").append(code).append(",\"msg\":");
    Json.quote(sb, getMessage());
    if (details != null && !details.isEmpty()) {
      sb.append(",\"details\":");
      Json.quote(sb, details);
    }
    return sb.append('}').toString();
  }
}

package dev.ambientj.config.xds;

/**
 * A resource that cannot be applied; the loader NACKs with {@link #getMessage()}, which names the
 * resource ({@code type name: problem}).
 */
public final class XdsDecodeException extends Exception {
  private static final long serialVersionUID = 1L;

  private final String typeUrl;
  private final String resourceName;
  private final String problem;

  public XdsDecodeException(String typeUrl, String resourceName, String problem) {
    super(shortType(typeUrl) + " " + resourceName + ": " + problem);
    this.typeUrl = typeUrl;
    this.resourceName = resourceName;
    this.problem = problem;
  }

  /** The type of the resource that cannot be applied. */
  public String typeUrl() {
    return typeUrl;
  }

  public String resourceName() {
    return resourceName;
  }

  /** What is wrong with it (the message without the resource's name). */
  public String problem() {
    return problem;
  }

  static String shortType(String typeUrl) {
    int slash = typeUrl.lastIndexOf('/');
    return slash < 0 ? typeUrl : typeUrl.substring(slash + 1);
  }
}

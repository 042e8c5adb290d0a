package dev.ambientj.config.xds;

/**
 * A resource that cannot be applied; the loader NACKs with {@link #getMessage()}, which names the
 * resource ({@code type name: problem}).
 */
public final class XdsDecodeException extends Exception {
  private static final long serialVersionUID = 1L;

  private final String resourceName;

  public XdsDecodeException(String typeUrl, String resourceName, String problem) {
    super(shortType(typeUrl) + " " + resourceName + ": " + problem);
    this.resourceName = resourceName;
  }

  public String resourceName() {
    return resourceName;
  }

  private static String shortType(String typeUrl) {
    int slash = typeUrl.lastIndexOf('/');
    return slash < 0 ? typeUrl : typeUrl.substring(slash + 1);
  }
}

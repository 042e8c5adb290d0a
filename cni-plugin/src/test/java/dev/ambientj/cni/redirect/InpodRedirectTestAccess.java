package dev.ambientj.cni.redirect;

/** Lets tests in other packages read the golden rules. */
public final class InpodRedirectTestAccess {
  private InpodRedirectTestAccess() {}

  public static String golden() {
    return InpodRedirectTest.GOLDEN_INSTALL;
  }
}

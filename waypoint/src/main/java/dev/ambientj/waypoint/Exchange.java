package dev.ambientj.waypoint;

import dev.ambientj.config.authz.AuthzRequest;
import dev.ambientj.config.authz.AuthzVerdict;
import dev.ambientj.config.authz.ForwardedFor;
import dev.ambientj.hbone.ConnectTarget;
import dev.ambientj.hbone.HboneException;
import dev.ambientj.hbone.TunnelChannels;
import dev.ambientj.hbone.identity.SpiffeId;
import dev.ambientj.waypoint.cluster.CircuitBreaker;
import dev.ambientj.waypoint.cluster.Cluster;
import dev.ambientj.waypoint.cluster.UpstreamHost;
import dev.ambientj.waypoint.filter.fault.FaultPolicy;
import dev.ambientj.waypoint.filter.ratelimit.TokenBucket;
import dev.ambientj.waypoint.http.HttpMessages;
import dev.ambientj.waypoint.route.RetryPolicy;
import dev.ambientj.waypoint.route.Route;
import dev.ambientj.waypoint.route.RouteAction;
import dev.ambientj.waypoint.route.RouteRequest;
import dev.ambientj.waypoint.route.RouteTable;
import dev.ambientj.waypoint.route.WeightedDestination;
import dev.ambientj.waypoint.telemetry.RequestLog;
import dev.ambientj.waypoint.telemetry.TraceHeaders;
import dev.ambientj.waypoint.telemetry.Tracing;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.handler.codec.http2.Http2StreamFrameToHttpObjectCodec;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import io.opentelemetry.api.trace.Span;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One HTTP request through the waypoint, from the aggregated downstream request to the last byte
 * of the response.
 *
 * <p><b>Pipeline:</b> route selection → L7 authorization → fault injection (delay, abort) → local
 * rate limit → redirect / direct response, or: weighted destination → cluster (DestinationRule
 * subset) → circuit breakers → load-balanced endpoint (outlier ejection) → HBONE tunnel to the
 * endpoint's {@code podIP:15008} with {@code :authority podIP:targetPort} and the waypoint's own
 * identity → HTTP/1.1 or HTTP/2 on the tunnel → response streamed back.
 *
 * <p><b>Resilience:</b> the route timeout bounds the whole exchange, retries included; a per-try
 * timeout bounds each try until its response headers; retries follow {@link RetryPolicy} with
 * jittered exponential backoff; a retry is decided on response headers only, so once headers are
 * forwarded the response is committed. Each try opens its own tunnel (a pooled HTTP/2 stream
 * inside the HBONE connection) and closes it when its response ends.
 *
 * <p><b>Threading:</b> every state change happens on the downstream channel's event loop
 * ({@code ctx.executor()}); upstream callbacks hop there. No locks.
 *
 * <p><b>Buffers:</b> the exchange owns the aggregated request (one reference) until it finishes;
 * each try writes a retained duplicate that the upstream codec releases. Response objects handed
 * over by {@link UpstreamHandler} are either written downstream (the codec releases them) or
 * released here.
 *
 * <p><b>Errors</b> become local replies with Envoy's bodies and response flags in one place,
 * {@link #localReply}.
 */
final class Exchange {
  private static final Logger log = LoggerFactory.getLogger(Exchange.class);
  private static final int HBONE_PORT = 15008;
  private static final long REFUSED_STREAM = 0x7;
  private static final io.netty.util.AttributeKey<Integer> USES =
      io.netty.util.AttributeKey.valueOf(Exchange.class, "uses");

  private final HttpProxyHandler owner;
  private final ChannelHandlerContext ctx;
  private final FullHttpRequest request;
  private final DownstreamInfo info;
  private final WaypointRuntime rt;
  private final boolean h2;
  private final RequestLog logRec;

  private WaypointConfig config;
  private ServiceBinding binding;
  private Route route;
  private RouteTable.Selected selected;
  private WeightedDestination destination;
  private Cluster cluster;
  private boolean requestAdmitted;
  private boolean grpc;
  private boolean keepAlive;
  private TokenBucket.Decision rateLimit;
  private String upstreamUri;
  private HttpHeaders upstreamHeaders;
  private int retriesDone;
  private boolean retryInFlight;
  private Attempt current;
  private boolean responseStarted;
  private boolean staleRetried;
  private boolean done;
  private ScheduledFuture<?> overallTimer;
  private ScheduledFuture<?> pending;
  /** The request's SERVER span; null until the request parsed, and after {@link #finish}. */
  private Span serverSpan;

  Exchange(HttpProxyHandler owner, ChannelHandlerContext ctx, FullHttpRequest request, DownstreamInfo info,
      WaypointRuntime rt, boolean h2) {
    this.owner = owner;
    this.ctx = ctx;
    this.request = request;
    this.info = info;
    this.rt = rt;
    this.h2 = h2;
    this.logRec = info.newLog(h2 ? "HTTP/2" : request.protocolVersion().text(), System.currentTimeMillis(),
        rt.ticker.nanoTime());
  }

  boolean isDone() {
    return done;
  }

  // ---------------------------------------------------------------------------------------------
  // Downstream side

  void start() {
    logRec.method = request.method().name();
    logRec.path = request.uri();
    keepAlive = h2 || HttpUtil.isKeepAlive(request);

    if (request.decoderResult().isFailure()) {
      Throwable cause = request.decoderResult().cause();
      int status = cause instanceof TooLongHttpHeaderException ? 431
          : cause instanceof TooLongHttpLineException ? 414
          : cause instanceof TooLongFrameException ? 413 : 400;
      keepAlive = false;
      logRec.detail = "downstream_malformed_request: " + (cause == null ? "" : cause.getMessage());
      localReply(status, status == 431 ? "Request Header Fields Too Large" : "Bad Request", null, null);
      return;
    }
    HttpHeaders h = request.headers();
    logRec.authority = h.get(HttpHeaderNames.HOST);
    logRec.userAgent = h.get(HttpHeaderNames.USER_AGENT);
    logRec.requestBytes = request.content().readableBytes();
    String ct = h.get(HttpHeaderNames.CONTENT_TYPE);
    grpc = ct != null && ct.startsWith("application/grpc");
    logRec.grpc = grpc;
    logRec.requestId = TraceHeaders.ensureRequestId(h);
    config = rt.config();
    serverSpan = rt.tracing.startServer(h, config == null || config.tracingSamplingPercentage() == null
        ? rt.tracing.settings().defaultSamplingPercentage() : config.tracingSamplingPercentage());
    logRec.traceparent = Tracing.traceparent(serverSpan);

    binding = config == null ? null : config.findBinding(info.vip(), info.port());
    if (binding == null) {
      logRec.detail = "service_not_served: " + info.vip().getHostAddress() + ":" + info.port()
          + " is no longer bound to this waypoint";
      localReply(503, "no healthy upstream", "NR", null);
      return;
    }
    logRec.destinationService = binding.service();

    RouteRequest rr = new RouteRequest(request.method().name(), request.uri(), h, logRec.authority, info.port());
    selected = binding.routes().find(rr);
    if (selected == null) {
      logRec.detail = "route_not_found";
      localReply(404, null, "NR", null);
      return;
    }
    route = selected.route();
    logRec.route = route.name();

    InetAddress source = info.sourceAddress() == null ? null : info.sourceAddress().getAddress();
    InetAddress remote = rt.numTrustedProxies == 0 ? source
        : ForwardedFor.remoteIp(h.get("x-forwarded-for"), source, rt.numTrustedProxies);
    AuthzVerdict verdict = binding.authorizer().check(new AuthzRequest(info.principal(), source, remote,
        info.vip(), info.port(), hostOnly(logRec.authority), request.method().name(), rr.path(), h::get));
    if (!verdict.allowed()) {
      logRec.detail = "rbac_access_denied: " + verdict.reason();
      localReply(403, "RBAC: access denied", null, null);
      return;
    }

    FaultPolicy.Decision fault = route.fault().decide(rt.random);
    if (fault.delays()) {
      logRec.flag("DI");
      pending = ctx.executor().schedule(() -> afterDelay(fault), fault.delay().toNanos(), TimeUnit.NANOSECONDS);
      return;
    }
    afterDelay(fault);
  }

  private void afterDelay(FaultPolicy.Decision fault) {
    pending = null;
    if (done) {
      return;
    }
    if (fault.aborts()) {
      logRec.flag("FI");
      logRec.detail = "fault_filter_abort";
      if (fault.abortGrpcStatus() != null) {
        grpcReply(fault.abortGrpcStatus(), "fault filter abort");
      } else {
        localReply(fault.abortHttpStatus(), "fault filter abort", null, null);
      }
      return;
    }
    for (TokenBucket b : binding.rateLimits()) {
      TokenBucket.Decision d = b.tryAcquire();
      if (rateLimit == null || d.remaining() < rateLimit.remaining() || !d.allowed()) {
        rateLimit = d;
      }
      if (!d.allowed()) {
        logRec.detail = "local_rate_limited";
        localReply(429, "local_rate_limited", "RL", null);
        return;
      }
    }
    RouteAction action = route.action();
    switch (action) {
      case RouteAction.DirectResponse dr -> {
        logRec.detail = "direct_response";
        localReply(dr.status(), dr.body(), null, null);
      }
      case RouteAction.Redirect r -> {
        logRec.detail = "redirect";
        localReply(r.status(), null, null, Map.of("location", redirectLocation(r)));
      }
      case RouteAction.Forward f -> forward(f);
    }
  }

  private void forward(RouteAction.Forward f) {
    destination = f.pick(f.totalWeight() <= 0 ? 0 : rt.random.nextInt(f.totalWeight()));
    WaypointConfig.ClusterResolution res = config.resolveCluster(destination, info.port());
    if (res.cluster() == null) {
      log.warn("{}: {} — answering 503 (no cluster)", route.name(), res.error());
      logRec.detail = "cluster_not_found: " + res.error();
      logRec.cluster = destination.clusterName();
      localReply(503, "no healthy upstream", "NC", null);
      return;
    }
    cluster = res.cluster();
    logRec.cluster = cluster.key().toString();
    if (!cluster.breaker().tryStartRequest()) {
      logRec.detail = "upstream_rq_pending_overflow: http2MaxRequests";
      localReply(503, "upstream connect error or disconnect/reset before headers. reset reason: overflow", "UO", null);
      return;
    }
    requestAdmitted = true;
    if (!route.timeout().isZero()) {
      overallTimer = ctx.executor().schedule(this::onOverallTimeout, route.timeout().toNanos(), TimeUnit.NANOSECONDS);
    }
    prepareUpstreamRequest();
    tryOnce();
  }

  private void prepareUpstreamRequest() {
    HttpHeaders h = new DefaultHttpHeaders();
    h.set(request.headers());
    HttpMessages.stripHopByHop(h);
    h.remove(HttpHeaderNames.TE);
    if (grpc) {
      h.set(HttpHeaderNames.TE, HttpHeaderValues.TRAILERS);
    }
    route.requestHeaders().apply(h);
    destination.requestHeaders().apply(h);
    if (route.rewriteAuthority() != null) {
      h.set(HttpHeaderNames.HOST, route.rewriteAuthority());
    }
    h.set("x-forwarded-proto", "http");
    upstreamUri = route.rewrite(request.uri(), selected.match());
    upstreamHeaders = h;
  }

  private String redirectLocation(RouteAction.Redirect r) {
    String authority = logRec.authority == null ? info.vip().getHostAddress() : logRec.authority;
    String host = r.host() != null ? r.host() : hostOnly(authority);
    String port = "";
    if (r.port() != 0) {
      port = ":" + r.port();
    } else if (r.host() == null) {
      int colon = authority.lastIndexOf(':');
      if (colon > 0 && authority.indexOf(']') < colon) {
        port = authority.substring(colon);
      }
    }
    String uri = request.uri();
    if (r.path() != null) {
      int q = uri.indexOf('?');
      String query = q < 0 ? "" : uri.substring(q);
      if (r.replacePrefix()) {
        uri = new Route(route.name(), route.matches(), r, null, null, r.path(), false, null, null, null, null)
            .rewrite(uri, selected.match());
      } else {
        uri = r.path() + query;
      }
    }
    return (r.scheme() == null ? "http" : r.scheme()) + "://" + host + port + uri;
  }

  private static String hostOnly(String authority) {
    if (authority == null) {
      return null;
    }
    if (authority.startsWith("[")) {
      int end = authority.indexOf(']');
      return end < 0 ? authority : authority.substring(1, end);
    }
    int colon = authority.indexOf(':');
    return colon < 0 ? authority : authority.substring(0, colon);
  }

  // ---------------------------------------------------------------------------------------------
  // Tries

  private void tryOnce() {
    if (done) {
      return;
    }
    UpstreamHost host = cluster.pick(rt.ticker.nanoTime(), rt.random);
    if (host == null) {
      logRec.detail = "no_healthy_upstream: every endpoint of " + cluster + " is ejected or unhealthy";
      localReply(503, "no healthy upstream", "UH", null);
      return;
    }
    Attempt a = new Attempt(host, ++logRec.attempts);
    a.span = rt.tracing.startClient(serverSpan, cluster.key().toString());
    current = a;
    logRec.upstreamHost = host.authority();
    logRec.destinationWorkload = host.workload();
    CircuitBreaker.Waiter w = () -> ctx.executor().execute(a::granted);
    a.waiter = w;
    if (!cluster.breaker().acquireConnection(w)) {
      current = null;
      a.why = "upstream_rq_pending_overflow";
      a.endSpan();
      logRec.detail = "upstream_rq_pending_overflow: maxConnections and http1MaxPendingRequests reached";
      localReply(503, "upstream connect error or disconnect/reset before headers. reset reason: overflow", "UO", null);
    }
  }

  private void onPerTryTimeout(Attempt a) {
    if (a != current || done || responseStarted) {
      return;
    }
    a.why = "upstream_per_try_timeout";
    a.abandon();
    failed(a, RetryPolicy.Failure.PER_TRY_TIMEOUT, "per-try timeout");
  }

  private void onOverallTimeout() {
    overallTimer = null;
    if (done) {
      return;
    }
    endEarly("UT", "upstream_response_timeout (response already started; stream reset)",
        "upstream_response_timeout", 504, "upstream request timeout");
  }

  /**
   * Ends the exchange before its upstream did, with response flag {@code flag}: a response already
   * started is reset ({@code startedDetail} in the log), otherwise the client gets {@code status}.
   */
  private void endEarly(String flag, String startedDetail, String detail, int status, String body) {
    logRec.flag(flag);
    if (current != null) {
      current.abandon();
      current = null;
    }
    if (pending != null) {
      pending.cancel(false);
      pending = null;
    }
    if (responseStarted) {
      logRec.detail = startedDetail;
      abortDownstream();
      return;
    }
    logRec.detail = detail;
    localReply(status, body, null, null);
  }

  /** A try ended without a usable response: retry or give up. */
  private void failed(Attempt a, RetryPolicy.Failure failure, String why) {
    if (done || a != current) {
      return;
    }
    current = null;
    rt.telemetry.outcome(cluster, a.host, 503, true, rt.ticker.nanoTime());
    RetryPolicy rp = route.retry();
    if (rp.retriesFailure(failure) && scheduleRetry(rp)) {
      return;
    }
    boolean exhausted = retriesDone > 0 && rp.attempts() > 0 && retriesDone >= rp.attempts();
    String flag = switch (failure) {
      case CONNECT_FAILURE -> "UF";
      case PER_TRY_TIMEOUT -> "UT";
      case REFUSED_STREAM, RESET -> "UR";
    };
    logRec.flag(flag);
    if (exhausted) {
      logRec.flag("URX");
    }
    switch (failure) {
      case CONNECT_FAILURE -> {
        logRec.detail = "upstream_reset_before_response_started{connection_failure}: " + why;
        localReply(503, "upstream connect error or disconnect/reset before headers. reset reason: connection failure",
            null, null);
      }
      case PER_TRY_TIMEOUT -> {
        logRec.detail = "upstream_per_try_timeout";
        localReply(504, "upstream request timeout", null, null);
      }
      case REFUSED_STREAM -> {
        logRec.detail = "upstream_reset_before_response_started{refused_stream}: " + why;
        localReply(503, "upstream connect error or disconnect/reset before headers. reset reason: refused stream",
            null, null);
      }
      case RESET -> {
        logRec.detail = "upstream_reset_before_response_started{remote_reset}: " + why;
        localReply(503, "upstream connect error or disconnect/reset before headers. reset reason: remote reset",
            null, null);
      }
    }
  }

  /** Schedules the next try after backoff; false when no retry is left or allowed. */
  private boolean scheduleRetry(RetryPolicy rp) {
    if (retriesDone >= rp.attempts()) {
      return false;
    }
    if (retryInFlight) {
      cluster.breaker().endRetry();
      retryInFlight = false;
    }
    if (!cluster.breaker().tryStartRetry()) {
      logRec.flag("URX");
      return false;
    }
    retryInFlight = true;
    retriesDone++;
    rt.telemetry.retry(cluster);
    long backoff = rp.backoffMillis(retriesDone, rt.random);
    pending = ctx.executor().schedule(() -> {
      pending = null;
      tryOnce();
    }, backoff, TimeUnit.MILLISECONDS);
    return true;
  }

  /** Response headers of a try: retry, or commit and forward. Returns true if retried. */
  private boolean onResponseHead(Attempt a, HttpResponse resp) {
    int status = resp.status().code();
    String grpcStatus = resp.headers().get("grpc-status");
    rt.telemetry.outcome(cluster, a.host, status, false, rt.ticker.nanoTime());
    a.status = status;
    if (a.perTryTimer != null) {
      a.perTryTimer.cancel(false);
      a.perTryTimer = null;
    }
    RetryPolicy rp = route.retry();
    if (rp.retriesResponse(status, grpcStatus)) {
      if (scheduleRetry(rp)) {
        current = null;
        a.abandon();
        return true;
      }
      if (retriesDone > 0) {
        logRec.flag("URX");
      }
    }
    responseStarted = true;
    logRec.detail = "via_upstream";
    a.upstreamKeepAlive = HttpUtil.isKeepAlive(resp);
    logRec.responseCode = status;
    logRec.grpcStatus = grpcStatus;
    HttpHeaders h = resp.headers();
    HttpMessages.stripHopByHop(h);
    if (!h2 && !(resp instanceof LastHttpContent) && !h.contains(HttpHeaderNames.CONTENT_LENGTH)
        && status != 204 && status != 304 && status >= 200) {
      HttpUtil.setTransferEncodingChunked(resp, true);
    }
    if (!h2 && closesAfterResponse()) {
      h.set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
    }
    if (resp.protocolVersion() != HttpVersion.HTTP_1_1) {
      resp.setProtocolVersion(HttpVersion.HTTP_1_1);
    }
    route.responseHeaders().apply(h);
    destination.responseHeaders().apply(h);
    addRateLimitHeaders(h, false);
    return false;
  }

  private void onUpstreamMessage(Attempt a, HttpObject msg) {
    if (done || a != current) {
      ReferenceCountUtil.release(msg);
      return;
    }
    if (msg instanceof HttpResponse resp) {
      if (resp.status().code() / 100 == 1) {
        ReferenceCountUtil.release(msg);
        return;
      }
      if (onResponseHead(a, resp)) {
        ReferenceCountUtil.release(msg);
        return;
      }
      if (!(msg instanceof HttpContent)) {
        ctx.writeAndFlush(msg);
        checkWritability(a);
        return;
      }
    }
    if (!responseStarted) {
      ReferenceCountUtil.release(msg);
      return;
    }
    HttpContent c = (HttpContent) msg;
    logRec.responseBytes += c.content().readableBytes();
    if (msg instanceof LastHttpContent) {
      current = null;
      a.complete = true;
      ctx.writeAndFlush(msg).addListener(f -> {
        if (!h2 && (!keepAlive || !f.isSuccess())) {
          endDownstream(f.isSuccess());
        }
      });
      a.finishAndPool();
      finish();
      return;
    }
    ctx.writeAndFlush(msg);
    checkWritability(a);
  }

  private void checkWritability(Attempt a) {
    if (!ctx.channel().isWritable() && a.channel != null) {
      a.channel.config().setAutoRead(false);
    }
  }

  /** The downstream became writable again: resume reading the upstream. */
  void onDownstreamWritable() {
    Attempt a = current;
    if (a != null && a.channel != null && ctx.channel().isWritable()) {
      a.channel.config().setAutoRead(true);
    }
  }

  private void onUpstreamClosed(Attempt a, Throwable cause) {
    if (done || a != current || a.complete) {
      return;
    }
    a.why = cause == null ? "upstream closed before the response" : "upstream reset: " + cause.getMessage();
    if (responseStarted) {
      current = null;
      a.abandon();
      logRec.flag("UR");
      logRec.detail = "upstream_reset_after_response_started" + (cause == null ? "" : ": " + cause.getMessage());
      abortDownstream();
      return;
    }
    a.abandon();
    if (a.reused && !staleRetried && idempotent()) {
      // A pooled connection the server closed while we reused it: try once more on a fresh
      // connection, outside the retry policy (as HTTP clients do for idempotent requests).
      staleRetried = true;
      current = null;
      tryOnce();
      return;
    }
    RetryPolicy.Failure f = RetryPolicy.Failure.RESET;
    failed(a, f, cause == null ? "upstream closed before the response" : String.valueOf(cause.getMessage()));
  }

  private boolean idempotent() {
    return switch (request.method().name()) {
      case "GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE" -> true;
      default -> false;
    };
  }

  /** The client went away (connection or stream closed) before the exchange finished. */
  void onDownstreamClosed() {
    if (done) {
      return;
    }
    logRec.flag("DC");
    logRec.detail = "downstream_remote_disconnect";
    if (current != null) {
      current.abandon();
      current = null;
    }
    if (!responseStarted) {
      logRec.responseCode = 0;
    }
    finish();
  }

  /**
   * Whether the HTTP/1.1 connection ends after this response: the client asked for it, or the
   * waypoint is draining (issue 16: keep-alive clients learn of the shutdown from {@code
   * Connection: close}, not from a reset).
   */
  private boolean closesAfterResponse() {
    if (rt.drain.draining()) {
      keepAlive = false;
    }
    return !keepAlive;
  }

  /**
   * The drain deadline passed with this exchange still running: a response not started yet is
   * answered {@code 503} (with {@code Connection: close}); a started one is reset, so that the
   * client sees it cut. Either way the access log says {@code DT} (Envoy's flag for a connection
   * ended by the proxy's own duration limit), never a complete response.
   */
  void endForShutdown() {
    if (done) {
      return;
    }
    keepAlive = false;
    endEarly("DT", "drain_deadline: the waypoint shut down before the response ended (" + logRec.responseBytes
        + " body bytes sent); response reset", "drain_deadline: the waypoint shut down before the upstream answered",
        503, "the waypoint is shutting down");
  }

  /** The response cannot be completed: reset the stream (HTTP/2) or close the connection (HTTP/1.1). */
  private void abortDownstream() {
    keepAlive = false;
    ctx.channel().close();
    finish();
  }

  // ---------------------------------------------------------------------------------------------
  // Local replies and the end

  /** Answers from the waypoint itself (errors, filters); {@code flag} is the Envoy response flag. */
  private void localReply(int status, String body, String flag, Map<String, String> headers) {
    if (done) {
      return;
    }
    if (flag != null) {
      logRec.flag(flag);
    }
    FullHttpResponse resp;
    if (grpc && h2 && status >= 400) {
      String gs = HttpMessages.grpcStatusFor(status);
      resp = HttpMessages.grpc(ctx.alloc(), gs, body);
      logRec.grpcStatus = gs;
      logRec.responseCode = 200;
    } else {
      resp = HttpMessages.text(ctx.alloc(), status, body);
      logRec.responseCode = status;
    }
    if (headers != null) {
      headers.forEach(resp.headers()::set);
    }
    if (status == 429) {
      resp.headers().set("x-envoy-ratelimited", "true");
      addRateLimitHeaders(resp.headers(), true);
    } else {
      addRateLimitHeaders(resp.headers(), false);
    }
    if (route != null && status != 429) {
      route.responseHeaders().apply(resp.headers());
    }
    writeLocal(resp);
  }

  private void grpcReply(String grpcStatus, String message) {
    if (done) {
      return;
    }
    FullHttpResponse resp = HttpMessages.grpc(ctx.alloc(), grpcStatus, message);
    logRec.responseCode = 200;
    logRec.grpcStatus = grpcStatus;
    writeLocal(resp);
  }

  /**
   * Ends an HTTP/1.1 downstream after its last response: END_STREAM (or FIN) after what was written,
   * then close. Closing at once would reset the tunnel, and ztunnel would reset the client's
   * connection, whose kernel then drops the response the client has not read yet.
   */
  private void endDownstream(boolean written) {
    if (written) {
      TunnelChannels.endThenClose(ctx.channel(), Waypoint.DELAYED_CLOSE_MILLIS);
    } else {
      ctx.close();
    }
  }

  private void writeLocal(FullHttpResponse resp) {
    logRec.responseBytes = resp.content().readableBytes();
    if (!h2) {
      if (closesAfterResponse()) {
        resp.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
      }
      boolean close = !keepAlive;
      ctx.writeAndFlush(resp).addListener(f -> {
        if (close || !f.isSuccess()) {
          endDownstream(f.isSuccess());
        }
      });
    } else {
      ctx.writeAndFlush(resp);
    }
    finish();
  }

  private void addRateLimitHeaders(HttpHeaders h, boolean limited) {
    TokenBucket.Decision d = rateLimit;
    if (d == null) {
      return;
    }
    h.set("x-ratelimit-limit", Long.toString(d.limit()));
    h.set("x-ratelimit-remaining", Long.toString(d.remaining()));
    h.set("x-ratelimit-reset", Long.toString(d.secondsToNextFill()));
    if (limited) {
      h.set(HttpHeaderNames.RETRY_AFTER, Long.toString(d.secondsToNextFill()));
    }
  }

  private void finish() {
    if (done) {
      return;
    }
    done = true;
    if (overallTimer != null) {
      overallTimer.cancel(false);
      overallTimer = null;
    }
    if (pending != null) {
      pending.cancel(false);
      pending = null;
    }
    if (retryInFlight) {
      cluster.breaker().endRetry();
      retryInFlight = false;
    }
    if (current != null) {
      current.abandon();
      current = null;
    }
    if (requestAdmitted) {
      cluster.breaker().endRequest();
      requestAdmitted = false;
    }
    request.release();
    logRec.durationNanos = rt.ticker.nanoTime() - logRec.startNanos;
    if (serverSpan != null) {
      try {
        rt.tracing.endServer(serverSpan, logRec, operationName());
      } catch (RuntimeException e) {
        log.debug("span failed", e);
      }
      serverSpan = null;
    }
    try {
      rt.telemetry.record(logRec);
    } catch (RuntimeException e) {
      log.debug("telemetry failed", e);
    }
    owner.exchangeDone(this, keepAlive);
  }

  /** Istio's default decorator: {@code <service host>:<port>/*} (the authority's when no service is bound). */
  private String operationName() {
    if (binding != null) {
      return binding.service().hostname() + ":" + info.port() + "/*";
    }
    return (logRec.authority != null ? logRec.authority : info.vip().getHostAddress() + ":" + info.port()) + "/*";
  }

  // ---------------------------------------------------------------------------------------------

  /**
   * One try: a connection slot, a tunnel, the request written on it, the response read from it.
   * All methods run on the exchange's event loop except the two {@code on…} entry points that the
   * upstream pipeline calls, which hop there.
   */
  final class Attempt {
    final UpstreamHost host;
    final int number;
    CircuitBreaker.Waiter waiter;
    boolean slotHeld;
    boolean counted;
    boolean reused;
    boolean upstreamKeepAlive;
    /** The shared HTTP/2 connection this try's stream runs on, or null. */
    Channel shared;
    boolean abandoned;
    boolean complete;
    Channel tunnel;
    Channel channel;
    ScheduledFuture<?> perTryTimer;
    /** This try's CLIENT span; null once ended. */
    Span span;
    /** The upstream's response code, 0 until its headers came. */
    int status;
    /** Why the try ended without a response, for its span. */
    String why;

    Attempt(UpstreamHost host, int number) {
      this.host = host;
      this.number = number;
    }

    void granted() {
      slotHeld = true;
      if (abandoned || done) {
        release();
        return;
      }
      host.requestStarted();
      counted = true;
      RetryPolicy rp = route.retry();
      if (!rp.perTryTimeout().isZero()) {
        perTryTimer = ctx.executor().schedule(() -> onPerTryTimeout(this), rp.perTryTimeout().toNanos(),
            TimeUnit.NANOSECONDS);
      }
      SpiffeId self = rt.identity;
      SpiffeId peer;
      try {
        peer = SpiffeId.parse(host.workload().spiffeId());
      } catch (IllegalArgumentException e) {
        abandon();
        failed(this, RetryPolicy.Failure.CONNECT_FAILURE, "bad endpoint identity: " + e.getMessage());
        return;
      }
      if (upstreamH2()) {
        Channel h2conn = host.acquireH2();
        if (h2conn != null) {
          reused = true;
          shared = h2conn;
          openStream(h2conn);
          return;
        }
      } else {
        Channel idle = host.pollIdle(rt.ticker.nanoTime());
        if (idle != null) {
          reused = true;
          tunnel = idle;
          channel = idle;
          idle.pipeline().replace("upstream", "upstream", new UpstreamHandler(this));
          idle.writeAndFlush(http1Request(false));
          return;
        }
      }
      ConnectTarget target = new ConnectTarget(self, Set.of(peer),
          new InetSocketAddress(host.address(), HBONE_PORT), host.authority(), Map.of());
      rt.connector.connect(target, ctx.channel().eventLoop())
          .whenComplete((ch, err) -> ctx.executor().execute(() -> connected(ch, err)));
    }

    private void connected(Channel ch, Throwable err) {
      if (err != null) {
        Throwable c = err instanceof java.util.concurrent.CompletionException && err.getCause() != null
            ? err.getCause() : err;
        if (abandoned || done) {
          release();
          return;
        }
        why = "upstream connect failure: " + c.getMessage();
        abandon();
        RetryPolicy.Failure f = RetryPolicy.Failure.CONNECT_FAILURE;
        if (c instanceof HboneException he && he.kind() == HboneException.Kind.STREAM_RESET) {
          f = he.http2ErrorCode() == REFUSED_STREAM ? RetryPolicy.Failure.REFUSED_STREAM : RetryPolicy.Failure.RESET;
        }
        failed(this, f, "HBONE to " + host.address().getHostAddress() + ":" + HBONE_PORT + " (" + host.authority()
            + "): " + c.getMessage());
        return;
      }
      tunnel = ch;
      if (abandoned || done) {
        release();
        return;
      }
      if (upstreamH2()) {
        ch.pipeline().addLast(Http2FrameCodecBuilder.forClient().initialSettings(StreamBuffers.innerH2ClientSettings())
            .build());
        ch.pipeline().addLast(new Http2MultiplexHandler(new io.netty.channel.ChannelInboundHandlerAdapter()));
        ch.pipeline().addLast(dev.ambientj.waypoint.http.ErrorSink.INSTANCE);
        StreamBuffers.growInnerConnectionWindow(ch, UpstreamHost.MAX_H2_STREAMS);
        ch.config().setAutoRead(true);
        if (host.offerH2(ch)) {
          // now shared by every HTTP/2 try to this endpoint; it lives until it closes or gets GOAWAY
          tunnel = null;
          shared = ch;
        }
        openStream(ch);
      } else {
        channel = ch;
        ch.pipeline().addLast("http1", new HttpClientCodec());
        ch.pipeline().addLast("upstream", new UpstreamHandler(this));
        ch.pipeline().addLast("errors", dev.ambientj.waypoint.http.ErrorSink.INSTANCE);
        ch.config().setAutoRead(true);
        ch.writeAndFlush(http1Request(true));
      }
    }

    /** One HTTP/2 stream on {@code conn} (HTTP/1-style objects via the stream codec) carrying the request. */
    private void openStream(Channel conn) {
      FullHttpRequest out = newRequest();
      new Http2StreamChannelBootstrap(conn).handler(new ChannelInitializer<Http2StreamChannel>() {
        @Override
        protected void initChannel(Http2StreamChannel sc) {
          sc.pipeline().addLast(new Http2StreamFrameToHttpObjectCodec(false));
          sc.pipeline().addLast(new UpstreamHandler(Attempt.this));
        }
      }).open().addListener(f -> ctx.executor().execute(() -> {
        if (!f.isSuccess()) {
          out.release();
          onClosed0(f.cause());
          return;
        }
        Http2StreamChannel sc = (Http2StreamChannel) f.getNow();
        if (abandoned || done) {
          out.release();
          sc.close();
          return;
        }
        channel = sc;
        sc.writeAndFlush(out);
      }));
    }

    private boolean upstreamH2() {
      return binding.protocol().upstreamH2() || (h2 && binding.protocol() != PortProtocol.HTTP);
    }

    /** The request as this try sends it; the content is a retained duplicate (the codec releases it). */
    private FullHttpRequest newRequest() {
      FullHttpRequest out = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, request.method(), upstreamUri,
          request.content().retainedDuplicate(), upstreamHeaders.copy(), request.trailingHeaders().copy());
      out.headers().set("x-envoy-attempt-count", number);
      if (span != null) {
        Tracing.inject(out.headers(), span, serverSpan);
      }
      return out;
    }

    private FullHttpRequest http1Request(boolean fresh) {
      FullHttpRequest out = newRequest();
      HttpUtil.setContentLength(out, out.content().readableBytes());
      if (out.content().readableBytes() == 0 && !methodHasBody(out)) {
        out.headers().remove(HttpHeaderNames.CONTENT_LENGTH);
      }
      return out;
    }

    /**
     * The response ended: an HTTP/1.1 connection that may carry more requests goes back to the
     * host's idle pool (at most {@code maxRequestsPerConnection} uses); anything else is closed.
     */
    void finishAndPool() {
      Channel ch = tunnel;
      boolean reusable = ch != null && ch == channel && upstreamKeepAlive && ch.isActive() && !upstreamH2();
      if (reusable) {
        int max = cluster.policy().maxRequestsPerConnection();
        Integer used = ch.attr(USES).get();
        int uses = used == null ? 1 : used + 1;
        ch.attr(USES).set(uses);
        if (max > 0 && uses >= max) {
          reusable = false;
        }
      }
      if (!reusable) {
        release();
        return;
      }
      tunnel = null;
      ch.pipeline().replace("upstream", "upstream", new IdleUpstreamHandler(host));
      ch.config().setAutoRead(true);
      release();
      host.offerIdle(ch, rt.ticker.nanoTime());
    }

    private boolean methodHasBody(FullHttpRequest r) {
      String m = r.method().name().toUpperCase(Locale.ROOT);
      return m.equals("POST") || m.equals("PUT") || m.equals("PATCH");
    }

    /**
     * Called by {@link UpstreamHandler} on the upstream's loop. Handled at once when that is the
     * exchange's loop too (the connector pools per loop, so it is): a hop through the task queue
     * would let the upstream stream read on — and return window for — bytes the client is not
     * taking, since reading stops only once the write that found the client unwritable has run.
     */
    void onMessage(HttpObject msg) {
      if (ctx.executor().inEventLoop()) {
        onUpstreamMessage(this, msg);
      } else {
        ctx.executor().execute(() -> onUpstreamMessage(this, msg));
      }
    }

    /** Called by {@link UpstreamHandler} on the upstream's loop. */
    void onClosed(Throwable cause) {
      if (ctx.executor().inEventLoop()) {
        onClosed0(cause);
      } else {
        ctx.executor().execute(() -> onClosed0(cause));
      }
    }

    private void onClosed0(Throwable cause) {
      if (!complete) {
        onUpstreamClosed(this, cause);
      }
    }

    /** Stops using this try: closes its tunnel and frees its slot. Idempotent. */
    void abandon() {
      abandoned = true;
      release();
    }

    /** Ends this try's span (once): with the response code, or with {@link #why} when none came. */
    void endSpan() {
      Span s = span;
      if (s == null) {
        return;
      }
      span = null;
      try {
        rt.tracing.endClient(s, request.method().name(), "http://" + host.authority() + upstreamUri,
            cluster.key().toString(), host.authority(), host.workload(), status,
            why != null ? why : "no response: the try was abandoned");
      } catch (RuntimeException e) {
        log.debug("span failed", e);
      }
    }

    /** Closes the tunnel, gives the connection slot back and ends the span. Idempotent. */
    void release() {
      endSpan();
      if (perTryTimer != null) {
        perTryTimer.cancel(false);
        perTryTimer = null;
      }
      if (waiter != null && !slotHeld) {
        if (cluster.breaker().cancelWait(waiter)) {
          waiter = null;
        }
      }
      if (slotHeld) {
        slotHeld = false;
        if (counted) {
          counted = false;
          host.requestEnded();
        }
        cluster.breaker().releaseConnection();
      }
      if (shared != null) {
        Channel stream = channel;
        host.releaseH2(shared);
        shared = null;
        if (stream != null && stream.isActive()) {
          stream.close(); // RST_STREAM if the response had not ended
        }
      }
      Channel t = tunnel;
      if (t != null) {
        tunnel = null;
        if (t.isActive()) {
          TunnelChannels.shutdownOutput(t).addListener(f -> t.close());
        }
      }
    }
  }
}

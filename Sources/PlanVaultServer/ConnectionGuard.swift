import Logging
import NIOCore
import NIOHTTPTypes

/// Per-connection timeouts and early closes that Hummingbird's own idle handler does not give
/// (see FORMAT.md §13, "Connections"):
/// - While the server waits on the client (for a request, for the rest of a request body, or for
///   the client to take a response it is sending), at least `minimumProgress` bytes must move in
///   every `timeout`; otherwise the connection is closed. A byte now and then does not keep it open,
///   and neither does a client that stops reading a response. While a request body is not being
///   read because the server is behind (its own disk is slow, so it asks for no more), the wait is
///   the server's, and the client's clock starts again when the server reads on.
/// - A response finished before its request body was read (401, 403, 413, 507, …), and every
///   401, carries `Connection: close` and the connection is closed once the response is sent:
///   the rest of the body is never read, and a client without a valid token cannot keep a
///   connection (one of `--max-connections`) by repeating requests.
/// - A request that asks to close (`Connection: close`) has its connection closed once its
///   response is sent: the server reads nothing after it, so it never waits on the client's close.
/// - A server behind on a request body for `mostBehind` timeouts (it should never be) closes it.
/// - On shutdown, a connection still busy after `drainTimeout` is closed.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// Bytes that must move within each timeout period while the server waits on the client.
    static let minimumProgress = 64 * 1024

    private let timeout: TimeAmount
    private let drainTimeout: TimeAmount
    private let logger: Logger

    private var requestOpen = false
    /// The server has asked for more of the connection's bytes (a `read`) and not yet had them:
    /// without one outstanding, nothing the client sends is taken, whatever the client does.
    private var readAsked = true
    /// Since when the server has been behind (`serverBehind`); that time, and only that, is
    /// added to the client's deadline once it is no longer behind.
    private var behindSince: NIODeadline?
    /// When the server's current spell of being behind began (for `mostBehind`; a fresh
    /// deadline does not move it).
    private var behindStarted: NIODeadline?
    /// Bytes of the connection delivered since the last `read`: a read completion with none
    /// leaves that read outstanding.
    private var deliveredSinceRead = false
    /// Requests whose head has arrived, responses completed, and the request (by that count)
    /// after whose response the client asked to close (`Connection: close`). The server reads
    /// nothing more after such a response, so the connection is closed then rather than left
    /// waiting for the client to close it.
    private var requestsSeen = 0
    private var responsesDone = 0
    private var closeAtResponse: Int?
    /// The longest the server may stay behind on one request body, in timeouts: a server that
    /// stops reading for good (which it should never do) cannot keep a connection forever.
    static let mostBehind: Int64 = 10
    private var responsesOwed = 0
    private var unfinishedWrites = 0
    private var closeAfterResponse = false
    private var wasWaiting = true
    private var progress = 0
    private var deadline = NIODeadline.now()
    private var timer: Scheduled<Void>?
    private var drainTimer: Scheduled<Void>?

    init(timeout: TimeAmount, drainTimeout: TimeAmount, logger: Logger) {
        self.timeout = timeout
        self.drainTimeout = drainTimeout
        self.logger = logger
    }

    /// Between requests, reading a request, or with a response the client has not yet taken.
    /// Otherwise the server itself is working on a request, and no client timeout applies.
    private var waitingOnClient: Bool { requestOpen || unfinishedWrites > 0 || responsesOwed == 0 }

    /// Reading a request body that the server has stopped asking for: its handler is behind.
    private var serverBehind: Bool { requestOpen && !readAsked && unfinishedWrites == 0 }

    func handlerAdded(context: ChannelHandlerContext) {
        resetDeadline()
        schedule(context, at: deadline)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        drainTimer?.cancel()
        timer = nil
        drainTimer = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        drainTimer?.cancel()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        deliveredSinceRead = true
        switch unwrapInboundIn(data) {
        case .head(let head):
            requestOpen = true
            responsesOwed += 1
            requestsSeen += 1
            if closeAtResponse == nil, Self.asksToClose(head.headerFields[.connection]) { closeAtResponse = requestsSeen }
            resetDeadline()
        case .body(let buffer):
            noteProgress(buffer.readableBytes)
        case .end:
            requestOpen = false
            resetDeadline()
        }
        stateChanged()
        context.fireChannelRead(data)
    }

    func read(context: ChannelHandlerContext) {
        readAsked = true
        deliveredSinceRead = false
        stateChanged()
        context.read()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        // What was asked for has arrived; the next `read` comes at once unless the request's
        // handler is behind. Between reads that follow at once (a client trickling bytes) the
        // server is behind for next to no time.
        if deliveredSinceRead { readAsked = false }
        stateChanged()
        context.fireChannelReadComplete()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        var part = unwrapOutboundIn(data)
        var bytes = 0
        var isEnd = false
        switch part {
        case .head(var head):
            // The rest of this request's body will not be read, or the client showed no valid
            // token (it may not hold a connection open): say so, and close after the response.
            if requestOpen || head.status == .unauthorized {
                closeAfterResponse = true
                head.headerFields[.connection] = "close"
                part = .head(head)
            }
        case .body(let buffer):
            bytes = buffer.readableBytes
        case .end:
            isEnd = true
        }
        unfinishedWrites += 1
        stateChanged()
        let done = context.eventLoop.makePromise(of: Void.self)
        done.futureResult.assumeIsolated().whenComplete { [self] result in
            unfinishedWrites -= 1
            if case .success = result { noteProgress(bytes) }
            if isEnd {
                responsesOwed = max(0, responsesOwed - 1)
                responsesDone += 1
                resetDeadline()
                if closeAfterResponse || closeAtResponse == responsesDone { context.close(promise: nil) }
            }
            stateChanged()
        }
        promise.map { done.futureResult.cascade(to: $0) }
        context.write(wrapOutboundOut(part), promise: done)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent, drainTimer == nil {
            drainTimer = context.eventLoop.assumeIsolated().scheduleTask(in: drainTimeout) { [logger, drainTimeout] in
                logger.notice("closing a connection still busy \(drainTimeout.nanoseconds / 1_000_000_000) s after shutdown began")
                context.close(promise: nil)
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// Whether a Connection header holds the `close` option (a comma-separated list, any case).
    static func asksToClose(_ value: String?) -> Bool {
        guard let value else { return false }
        return value.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces).lowercased() == "close" }
    }

    private func resetDeadline() {
        deadline = .now() + timeout
        progress = 0
        // A fresh deadline owes nothing for the time before it.
        if behindSince != nil { behindSince = .now() }
    }

    private func noteProgress(_ bytes: Int) {
        progress += bytes
        if progress >= Self.minimumProgress { resetDeadline() }
    }

    /// The client's clock starts when the server begins waiting on it.
    private func stateChanged() {
        let waiting = waitingOnClient
        if waiting && !wasWaiting { resetDeadline() }
        wasWaiting = waiting
        // The time the server was behind on a request body was its own, not the client's.
        if serverBehind {
            if behindSince == nil { behindSince = .now() }
            if behindStarted == nil { behindStarted = .now() }
        } else {
            if let since = behindSince { deadline = deadline + (NIODeadline.now() - since) }
            behindSince = nil
            behindStarted = nil
        }
    }

    private func schedule(_ context: ChannelHandlerContext, at when: NIODeadline) {
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: when) { [self] in
            timer = nil
            if serverBehind, let since = behindStarted, NIODeadline.now() - since > timeout * Self.mostBehind {
                logger.notice("closing a connection whose request body the server has not read for \(Self.mostBehind) idle timeouts")
                context.close(promise: nil)
                return
            }
            guard waitingOnClient, !serverBehind else {
                schedule(context, at: .now() + timeout)
                return
            }
            if NIODeadline.now() >= deadline {
                // Address and port: several clients behind one address are told apart.
                let remote = context.channel.remoteAddress
                logger.notice("closing the connection from \(remote?.ipAddress ?? "-"):\(remote?.port.map(String.init) ?? "-"): under \(Self.minimumProgress / 1024) KiB moved in \(timeout.nanoseconds / 1_000_000_000) s")
                context.close(promise: nil)
            } else {
                schedule(context, at: deadline)
            }
        }
    }
}

// One HTTP/1.1 connection: reads requests (keep-alive), routes them, and streams or writes answers.
#pragma once

#include <boost/asio/ip/tcp.hpp>

namespace effitune::engine::server {

struct ServerCore;

// Serves an accepted connection until it closes. The socket's executor must be a strand: the
// session's handlers, and the scheduler events posted to it, then never run concurrently.
void start_session(boost::asio::ip::tcp::socket socket, ServerCore& core);

}  // namespace effitune::engine::server

from bench.peer.app import main

main()

# The one streamcart image: every command (serve <service>, migrate,
# secrets, probe, ...) of one static binary, on an empty base (scratch),
# running as an unprivileged user (65532) and fine with a read-only root
# filesystem. Its entrypoint is streamcart; the command picks what it runs:
#   docker run --rm streamcart serve payments --help
#
# Both ways need BuildKit (the default builder since Docker 23), which
# builds only the stages the image needs; the classic builder builds every
# stage, and fails on the one of the way not taken.
# From source (needs the Go image and the Go modules):
#   docker build -t streamcart .
# From a binary built outside (offline, as make compose-test does; no Go
# image is pulled):
#   CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags=-s -o bin/streamcart-linux ./cmd/streamcart
#   DOCKER_BUILDKIT=1 docker build --build-arg BINARY=prebuilt -t streamcart .
ARG BINARY=source
ARG GO_IMAGE=golang:1.26-bookworm

FROM ${GO_IMAGE} AS source
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd ./cmd
COPY internal ./internal
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags=-s -o /out/streamcart ./cmd/streamcart

FROM scratch AS prebuilt
COPY bin/streamcart-linux /out/streamcart

# The stage that BINARY names: source or prebuilt.
FROM ${BINARY} AS binary

FROM scratch
COPY --from=binary /out/streamcart /streamcart
USER 65532:65532
ENTRYPOINT ["/streamcart"]
CMD ["help"]
